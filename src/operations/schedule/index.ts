export { hasRetention, type RetentionPolicy, toPrune } from './retention.ts';
export { BackupScheduler, type ScheduleOptions, type SchedulerClock, systemClock } from './scheduler.ts';
