import { classifySql } from './sql-classify';

describe('classifySql (transaction mode)', () => {
  it.each([
    ['LISTEN jobs', /LISTEN/],
    ['select 1; listen jobs', /LISTEN/],
    ['SELECT pg_advisory_lock(1)', /advisory/],
    ['select pg_try_advisory_lock_shared(1, 2)', /advisory/],
    ['SELECT "pg_advisory_lock"(1)', /advisory/],
    ['SELECT pg_catalog.pg_advisory_lock(1)', /advisory/],
    ['SELECT "pg_catalog"."pg_try_advisory_lock"(1)', /advisory/],
    ['SELECT pg_catalog . "pg_advisory_lock_shared" (1)', /advisory/],
    ['SELECT pg_advisory_lock /* the session one */ (1)', /advisory/],
    ['SELECT U&"pg_advisory_lock"(1)', /advisory/],
    ['PREPARE q AS SELECT 1', /PREPARE/],
    ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', /WITH HOLD/],
  ])('refuses %s', (sql, reason) => {
    expect(classifySql(sql).refused).toMatch(reason);
  });

  it.each([
    'SELECT pg_advisory_xact_lock(1)',
    "SELECT 'LISTEN x', 'pg_advisory_lock(1)'",
    '-- LISTEN x\nSELECT 1',
    "PREPARE TRANSACTION 't1'",
    'SELECT $$ listen x $$',
    'SELECT pg_catalog.pg_advisory_xact_lock(1)',
    // A different (case-sensitive) name: not the built-in function.
    'SELECT "PG_ADVISORY_LOCK"(1)',
    'SELECT "pg_advisory_lock(" FROM t',
    'SELECT 1 AS "listen"',
  ])('lets %s through', (sql) => {
    expect(classifySql(sql).refused).toBeUndefined();
  });

  it('takes a statement without any of the words that matter as plain', () => {
    expect(classifySql('SELECT abalance FROM pgbench_accounts WHERE aid = 42;')).toEqual({ dirties: false });
    expect(classifySql('select * from t where x = $1')).toEqual({ dirties: false });
    expect(classifySql('SELECT pg_ADVISORY_LOCK(1)').refused).toMatch(/advisory/);
  });

  it('records a session SET, not SET LOCAL / SET TRANSACTION, and marks state-leaving statements dirty', () => {
    expect(classifySql('SET search_path TO app, public;')).toEqual({ setting: 'SET search_path TO app, public', dirties: true });
    expect(classifySql('RESET ALL')).toMatchObject({ setting: 'RESET ALL' });
    expect(classifySql("SET LOCAL statement_timeout = '1s'")).toEqual({ dirties: false });
    expect(classifySql('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')).toEqual({ dirties: false });
    expect(classifySql('UPDATE t SET x = 1')).toEqual({ dirties: false });
    expect(classifySql('CREATE TEMP TABLE t (x int)')).toEqual({ dirties: true });
    expect(classifySql("SELECT set_config('a.b', '1', false)")).toEqual({ dirties: true, changesSettings: true, customSettings: ['a.b'] });
    expect(classifySql('SET App.Mode = 1; SELECT 1').customSettings).toEqual(['app.mode']);
    expect(classifySql('SELECT 1; SET work_mem = 1024')).toEqual({ dirties: true, changesSettings: true });
    expect(classifySql('SET work_mem = 1024; SELECT 1')).toEqual({ dirties: true, changesSettings: true });
    expect(classifySql('BEGIN; SET LOCAL work_mem = 1024; COMMIT')).toEqual({ dirties: false });
    expect(classifySql("SELECT 'set_config(' AS t")).toEqual({ dirties: false });
    expect(classifySql('DISCARD ALL')).toEqual({ discardsAll: true, dirties: true });
    expect(classifySql('DEALLOCATE ALL')).toEqual({ discardsAll: true, dirties: true });
  });
});

describe('classifySql DEALLOCATE', () => {
  it('reads the statement name of DEALLOCATE [PREPARE] name, leaving DEALLOCATE ALL to discardsAll', () => {
    expect(classifySql('DEALLOCATE pdo_stmt_00000001')).toEqual({ deallocate: 'pdo_stmt_00000001', dirties: false });
    expect(classifySql('deallocate prepare "Mixed Name";')).toEqual({ deallocate: 'Mixed Name', dirties: false });
    expect(classifySql('DEALLOCATE ALL').deallocate).toBeUndefined();
  });
});
