import { describeConnectorStore } from './support/connector-suite';
import { createPostgresStore } from './support/stores';

describeConnectorStore('PostgreSQL', () => createPostgresStore());
