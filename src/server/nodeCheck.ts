/**
 * Imported first by the `agentstate/server` entry: on a Node.js older than the package supports, importing
 * the server fails at once with the one-line reason (see ../nodeVersion.ts), before Fastify or a native
 * module loads. A library must not exit the process, so this throws where the CLI prints and exits.
 */
import { unsupportedNodeMessage } from '../nodeVersion.ts';

const problem = unsupportedNodeMessage();
if (problem !== undefined) throw new Error(problem);
