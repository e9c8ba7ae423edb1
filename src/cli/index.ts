// The `agentstate` command as a function (`main(argv)`), for embedding and tests.

export { main } from './main.ts';
