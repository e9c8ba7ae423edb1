export * from './backup/index.ts';
