import 'reflect-metadata';
import { runServiceDefinition } from '@patchbay/nest';
import { MCP_BROKER } from './service';

runServiceDefinition(MCP_BROKER);
