import 'reflect-metadata';
import { runServiceDefinition } from '@patchbay/nest';
import { registryService } from './service';

runServiceDefinition(registryService);
