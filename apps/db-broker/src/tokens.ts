/** Injection token of the broker's BrokerSettings. */
export const BROKER_SETTINGS = Symbol('BROKER_SETTINGS');
export const DATABASE_BROKER = Symbol('DATABASE_BROKER');
