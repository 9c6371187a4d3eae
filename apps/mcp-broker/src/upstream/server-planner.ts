import type { ResolvedConnector } from '@patchbay/core';
import { specsFromConnector, type ServerSpec, type SpecDefaults, type SpecProblem } from './server-spec';

/**
 * Turns `agent_tool` connectors into server specs, one per member, and keeps what could
 * not run: a member whose options are unusable, or whose id another connector already
 * uses (server ids are tool prefixes, so they must be unique across connectors). The other
 * members of the connector run all the same.
 */
export class ServerPlanner {
  /** Server id -> the connector that claimed it first. */
  private readonly owners = new Map<string, string>();
  private readonly problems = new Map<string, SpecProblem[]>();

  constructor(private readonly defaults: SpecDefaults) {}

  plan(connector: ResolvedConnector): ServerSpec[] {
    const { configId } = connector;
    const { specs, problems } = specsFromConnector(connector, this.defaults);
    for (const [id, owner] of this.owners) if (owner === configId) this.owners.delete(id);
    const placed: ServerSpec[] = [];
    for (const spec of specs) {
      const owner = this.owners.get(spec.id);
      if (owner !== undefined) {
        problems.push({ id: spec.id, configId, message: `server id '${spec.id}' is already used by connector '${owner}'` });
        continue;
      }
      this.owners.set(spec.id, configId);
      placed.push(spec);
    }
    this.problems.set(configId, problems);
    return placed;
  }

  /** The connector was deleted: its ids are free again. */
  forget(configId: string): void {
    for (const [id, owner] of this.owners) if (owner === configId) this.owners.delete(id);
    this.problems.delete(configId);
  }

  /** Members that cannot run, of every connector. */
  allProblems(): SpecProblem[] {
    return [...this.problems.values()].flat();
  }

  problemsOf(configId: string): SpecProblem[] {
    return this.problems.get(configId) ?? [];
  }
}
