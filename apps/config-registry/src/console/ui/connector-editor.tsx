import { useState } from 'preact/hooks';
import { ApiError, call, type Connector, type Issue } from './api';

const TYPES = ['llm', 'bucket', 'database', 'api', 'endpoint', 'data_source', 'agent_tool'];
const SECRETS = ['apiKey', 'username', 'password'] as const;
/** Form fields an issue path can land on; anything else is shown above the buttons. */
const FIELDS = ['configId', 'type', 'label', 'url', 'stackId', 'options', 'members', 'credentials'] as const;
type Field = (typeof FIELDS)[number];

function fieldOf(path: string): Field | undefined {
  const head = path.replace(/^body\.?/, '').split(/[.[]/)[0] ?? '';
  return (FIELDS as readonly string[]).includes(head) ? (head as Field) : undefined;
}

function json(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

/** Create or edit a connector; the registry's validation issues are shown at their fields. */
export function ConnectorEditor({ existing, onSaved, onCancel }: { existing?: Connector; onSaved: (configId: string) => void; onCancel: () => void }) {
  const [configId, setConfigId] = useState(existing?.configId ?? '');
  const [type, setType] = useState(existing?.type ?? 'api');
  const [label, setLabel] = useState(existing?.label ?? '');
  const [url, setUrl] = useState(existing?.url ?? '');
  const [stackId, setStackId] = useState(existing?.stackId ?? '');
  const [options, setOptions] = useState(json(existing?.options ?? {}));
  const [members, setMembers] = useState(json(existing?.members));
  const [secrets, setSecrets] = useState<Record<string, string>>({});
  const [issues, setIssues] = useState<Issue[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const at = (field: Field) => issues.filter((i) => fieldOf(i.path) === field);
  const elsewhere = issues.filter((i) => fieldOf(i.path) === undefined);
  const shownAt = (field: Field) =>
    at(field).map((i) => (
      <p class="field-error" role="alert" key={i.path + i.message}>
        {i.path}: {i.message}
      </p>
    ));

  const save = async (event: Event) => {
    event.preventDefault();
    setIssues([]);
    setProblem(null);
    const local: Issue[] = [];
    const parse = (text: string, field: Field): unknown => {
      if (!text.trim()) return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch (e) {
        local.push({ path: field, message: `is not valid JSON (${(e as Error).message})` });
        return undefined;
      }
    };
    const body: Record<string, unknown> = { type, options: parse(options, 'options') ?? {} };
    const parsedMembers = parse(members, 'members');
    if (parsedMembers !== undefined) body.members = parsedMembers;
    if (label.trim()) body.label = label.trim();
    if (url.trim()) body.url = url.trim();
    if (stackId.trim()) body.stackId = stackId.trim();
    const credentials = Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== ''));
    if (Object.keys(credentials).length) body.credentials = credentials;
    if (!existing && !configId.trim()) local.push({ path: 'configId', message: 'is required' });
    if (local.length) {
      setIssues(local);
      return;
    }
    setSaving(true);
    try {
      const id = existing?.configId ?? configId.trim();
      await call('PUT', `/v1/connectors/${encodeURIComponent(id)}`, body);
      onSaved(id);
    } catch (e) {
      if (e instanceof ApiError && e.issues.length) setIssues(e.issues);
      else if (e instanceof ApiError && e.status === 400 && !existing) setIssues([{ path: 'configId', message: e.message }]);
      else setProblem(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  };

  return (
    <form class="card editor" onSubmit={save} noValidate>
      <h2>{existing ? `Edit ${existing.configId}` : 'New connector'}</h2>
      {!existing && (
        <div class={`field ${at('configId').length ? 'invalid' : ''}`}>
          <label for="configId">Config id</label>
          <input id="configId" name="configId" value={configId} onInput={(e) => setConfigId(e.currentTarget.value)} placeholder="e.g. GITHUB" />
          {shownAt('configId')}
        </div>
      )}
      <div class={`field ${at('type').length ? 'invalid' : ''}`}>
        <label for="type">Type</label>
        <select id="type" name="type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
          {TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        {shownAt('type')}
      </div>
      <div class={`field ${at('label').length ? 'invalid' : ''}`}>
        <label for="label">Label</label>
        <input id="label" name="label" value={label} onInput={(e) => setLabel(e.currentTarget.value)} />
        {shownAt('label')}
      </div>
      <div class={`field ${at('url').length ? 'invalid' : ''}`}>
        <label for="url">URL</label>
        <input id="url" name="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} placeholder="https://… or postgres://host:5432/db" />
        {shownAt('url')}
      </div>
      <div class={`field ${at('stackId').length ? 'invalid' : ''}`}>
        <label for="stackId">Stack id</label>
        <input id="stackId" name="stackId" value={stackId} onInput={(e) => setStackId(e.currentTarget.value)} />
        {shownAt('stackId')}
      </div>
      <div class={`field ${at('options').length ? 'invalid' : ''}`}>
        <label for="options">Options (JSON)</label>
        <textarea id="options" name="options" rows={6} class="mono" value={options} onInput={(e) => setOptions(e.currentTarget.value)} />
        {shownAt('options')}
      </div>
      <div class={`field ${at('members').length ? 'invalid' : ''}`}>
        <label for="members">Members (JSON, array connectors)</label>
        <textarea id="members" name="members" rows={3} class="mono" value={members} onInput={(e) => setMembers(e.currentTarget.value)} />
        {shownAt('members')}
      </div>
      <fieldset class={`field ${at('credentials').length ? 'invalid' : ''}`}>
        <legend>Credentials (write-only: leave empty to keep)</legend>
        {SECRETS.map((name) => (
          <label key={name} class="secret">
            <span>
              {name} {existing?.credentialsSet.includes(name) && <em class="badge">set</em>}
            </span>
            <input
              type="password"
              name={name}
              autocomplete="off"
              value={secrets[name] ?? ''}
              onInput={(e) => setSecrets({ ...secrets, [name]: e.currentTarget.value })}
            />
          </label>
        ))}
        {shownAt('credentials')}
      </fieldset>
      {elsewhere.map((i) => (
        <p class="error" role="alert" key={i.path}>
          {i.path}: {i.message}
        </p>
      ))}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <div class="buttons">
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
