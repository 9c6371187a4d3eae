/** Injection tokens of the kit. */
export const PATCHBAY_CONFIG = Symbol('PATCHBAY_CONFIG');
export const PATCHBAY_LOGGER = Symbol('PATCHBAY_LOGGER');
export const PATCHBAY_BUS = Symbol('PATCHBAY_BUS');
