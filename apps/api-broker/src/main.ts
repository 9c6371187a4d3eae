import 'reflect-metadata';
import { runServiceDefinition } from '@patchbay/nest';
import { apiBroker } from './service';

runServiceDefinition(apiBroker);
