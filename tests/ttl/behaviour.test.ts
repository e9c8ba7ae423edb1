import { ttlStoreBehaviour, ttlStoreFactories } from './behaviour.ts';

for (const factory of ttlStoreFactories) ttlStoreBehaviour(factory, await factory.available());
