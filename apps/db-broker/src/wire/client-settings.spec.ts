import { ClientSettings, sameSettingValue } from './client-settings';

describe('ClientSettings', () => {
  it('keeps the last SET per setting, whatever its spelling, and forgets it on RESET', () => {
    const settings = new ClientSettings();
    settings.record("SET statement_timeout = '1s'");
    settings.record("SET SESSION statement_timeout TO '2s'");
    settings.record("SET TIME ZONE 'Europe/Paris'");
    settings.record("SET timezone = 'UTC'");
    settings.record('SET search_path TO app');
    expect(settings.replay()).toBe("SET SESSION statement_timeout TO '2s'; SET timezone = 'UTC'; SET search_path TO app");
    settings.record('RESET search_path');
    settings.record('reset TIMEZONE');
    expect(settings.replay()).toBe("SET SESSION statement_timeout TO '2s'");
    settings.record('RESET ALL');
    expect(settings.replay()).toBeUndefined();
  });

  it('goes back to the startup settings on RESET and RESET ALL, as Postgres does, not to the server defaults', () => {
    const settings = new ClientSettings();
    settings.set('work_mem', '2MB');
    settings.set('TimeZone', 'UTC');
    settings.record("SET work_mem = '8MB'");
    settings.record("SET lock_timeout = '4s'");
    settings.record('RESET work_mem');
    expect(settings.replay()).toBe(`SET "work_mem" = '2MB'; SET "TimeZone" = 'UTC'; SET lock_timeout = '4s'`);
    settings.record("SET TIME ZONE 'Europe/Paris'");
    settings.record('RESET ALL');
    expect(settings.replay()).toBe(`SET "work_mem" = '2MB'; SET "TimeZone" = 'UTC'`);
    settings.record("SET work_mem = '8MB'");
    settings.resetAll();
    expect(settings.replay()).toBe(`SET "work_mem" = '2MB'; SET "TimeZone" = 'UTC'`);
  });

  it('quotes startup parameters it turns into SET statements', () => {
    const settings = new ClientSettings();
    settings.set('DateStyle', "ISO, 'MDY'");
    expect(settings.replay()).toBe(`SET "DateStyle" = 'ISO, ''MDY'''`);
  });

  it('takes a read-back snapshot as set_config calls, and reads custom settings back by name', () => {
    const settings = new ClientSettings();
    settings.set('app.tenant', 'acme');
    settings.record("SET statement_timeout = '1s'");
    settings.noteCustom(['My.Flag', 'work_mem']);
    expect(settings.readBackQuery()).toContain("unnest(ARRAY['app.tenant', 'my.flag']::text[])");
    settings.replaceWith([
      ['search_path', '"$user", public'],
      ['app.tenant', "o'neil"],
    ]);
    expect(settings.replay()).toBe(
      `SELECT pg_catalog.set_config('search_path', '"$user", public', false); SELECT pg_catalog.set_config('app.tenant', 'o''neil', false)`,
    );
    // Not in the snapshot: reset on the server connection, so back at its startup value.
    settings.replaceWith([]);
    expect(settings.replay()).toBe(`SET "app.tenant" = 'acme'`);
    expect(new ClientSettings().replay()).toBeUndefined();
    expect(new ClientSettings().readBackQuery()).not.toContain('unnest');
  });

  it('compares values as Postgres does', () => {
    expect(sameSettingValue('UTF8', 'utf-8')).toBe(true);
    expect(sameSettingValue('UNICODE', 'UTF8')).toBe(true);
    expect(sameSettingValue('ISO, MDY', 'iso,mdy')).toBe(true);
    expect(sameSettingValue('1', '2')).toBe(false);
  });
});
