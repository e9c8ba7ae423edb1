import { describeDocumentStoreConformance } from '../conformance/documentStore.ts';
import { cachedFactories, routerFactory } from '../support/persistence.ts';

for (const factory of [routerFactory, ...cachedFactories]) {
  describeDocumentStoreConformance(factory, await factory.available());
}
