import 'reflect-metadata';
import { runServiceDefinition } from '@patchbay/nest';
import { API_BROKER } from './service';

runServiceDefinition(API_BROKER);
