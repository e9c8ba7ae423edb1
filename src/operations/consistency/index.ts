export { ConsistencyChecker, type ConsistencyCheckerOptions } from './checker.ts';
export { type ConsistencyRun, LatestConsistencyCheck } from './latest.ts';
export type {
  ConsistencyReport,
  Finding,
  FindingKind,
  FindingLocation,
  RepairChange,
  RepairReport,
} from './report.ts';
