import { driverFactories } from '../support/drivers.ts';
import { describeDocumentStoreConformance } from './documentStore.ts';

for (const factory of driverFactories) {
  describeDocumentStoreConformance(factory, await factory.available());
}
