import { startService } from '@patchbay/nest';
import { describeServiceContract } from '@patchbay/testkit';
import { API_BROKER } from '../src/service';

// No registry: the contract's answers all come before a connector is looked up.
describeServiceContract('api-broker', (env, options) => startService(API_BROKER, env, options), { env: { PATCHBAY_REGISTRY_URL: 'http://127.0.0.1:1' } });
