import 'reflect-metadata';
import { runServiceDefinition } from '@patchbay/nest';
import { DB_BROKER } from './service';

runServiceDefinition(DB_BROKER);
