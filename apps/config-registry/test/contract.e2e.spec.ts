import { startService } from '@patchbay/nest';
import { describeServiceContract, dropSchema, testDatabaseUrl, uniqueSchema } from '@patchbay/testkit';
import { CONFIG_REGISTRY } from '../src/service';

const schema = uniqueSchema('pbcontract');
describeServiceContract('config-registry', (env, options) => startService(CONFIG_REGISTRY, env, options), {
  env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema },
  afterStop: () => dropSchema(schema),
});
