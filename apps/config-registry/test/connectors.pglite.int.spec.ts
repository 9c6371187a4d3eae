import { describeConnectorStore } from './support/connector-suite';
import { createPgliteStore } from './support/stores';

describeConnectorStore('PGlite (in memory)', () => createPgliteStore());
