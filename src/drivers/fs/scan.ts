import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptStateError } from '../../errors.ts';
import type { DocumentIndex } from './documentIndex.ts';
import { type DocumentHeader, readHeader } from './envelope.ts';
import { DOCUMENT_EXTENSION, documentFileName, namespaceDirName } from './fileNames.ts';
import { IO_PARALLELISM, mapLimit } from './mapLimit.ts';

/**
 * Fills the index of a store directory from the header line of every document file (run once at open,
 * after interrupted batches were completed). Leftover temp files are removed; a file that is corrupt or
 * lies in the wrong place goes to `quarantine`.
 */
export async function indexDocumentFiles(
  dir: string,
  index: DocumentIndex,
  quarantine: (path: string, error: CorruptStateError) => Promise<unknown>,
): Promise<void> {
  const dirs = await readdir(dir, { withFileTypes: true });
  for (const dirent of dirs) {
    if (!dirent.isDirectory() || dirent.name.startsWith('.')) continue;
    const dirPath = join(dir, dirent.name);
    const names = await readdir(dirPath);
    await mapLimit(names, IO_PARALLELISM, async (name) => {
      const path = join(dirPath, name);
      // Leftover temp file of an atomic write interrupted by a crash: its rename never happened.
      if (name.startsWith('.') && name.endsWith('.tmp')) return unlink(path).catch(() => {});
      if (!name.endsWith(DOCUMENT_EXTENSION)) return;
      let header: DocumentHeader;
      try {
        header = await readHeader(path);
        if (namespaceDirName(header.namespace) !== dirent.name || documentFileName(header.id) !== name) {
          throw new CorruptStateError(
            `document file ${path} holds ${header.namespace}/${header.id}, which belongs elsewhere`,
            { path, namespace: header.namespace, id: header.id },
          );
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        if (error instanceof CorruptStateError) return void (await quarantine(path, error));
        throw error;
      }
      index.namespace(header.namespace).dirReady = true;
      index.set(header.namespace, header.id, {
        revision: header.revision,
        createdAt: header.createdAt,
        ...(header.expiresAt !== undefined && { expiresAt: header.expiresAt }),
      });
    });
  }
}
