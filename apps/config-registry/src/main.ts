import 'reflect-metadata';
import { runServiceDefinition } from '@patchbay/nest';
import { CONFIG_REGISTRY } from './service';

runServiceDefinition(CONFIG_REGISTRY);
