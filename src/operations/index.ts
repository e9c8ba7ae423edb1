export * from './backup/index.ts';
export * from './consistency/index.ts';
export * from './schedule/index.ts';
export { postgresRunner, type SqlRunner, sqliteRunner } from './sql.ts';
