import 'reflect-metadata';
import { runServiceDefinition } from '@patchbay/nest';
import { LLM_PROXY } from './service';

runServiceDefinition(LLM_PROXY);
