import { startService } from '@patchbay/nest';
import { describeServiceContract } from '@patchbay/testkit';
import { DB_BROKER } from '../src/service';

// No registry: the contract's answers all come before a connector is looked up.
describeServiceContract('db-broker', (env, options) => startService(DB_BROKER, env, options), {
  env: { PATCHBAY_REGISTRY_URL: 'http://127.0.0.1:1', PATCHBAY_DB_WIRE_PORT: '0' },
});
