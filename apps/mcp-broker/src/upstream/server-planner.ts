import type { ResolvedConnector } from '@patchbay/core';
import { isVirtual, virtualSpecOf, type VirtualSpec } from '../curation/virtual-spec';
import { specsFromConnector, type ServerSpec, type SpecDefaults, type SpecProblem } from './server-spec';

/**
 * Turns `agent_tool` connectors into server specs, one per member, and keeps what could
 * not run: a member whose options are unusable, or whose id another connector already
 * uses (server ids are tool prefixes, so they must be unique across connectors). The other
 * members of the connector run all the same. Virtual servers (`transport: 'virtual'`) plan
 * no connection: they are kept here as views over the others.
 */
export class ServerPlanner {
  /** Server id -> the connector that claimed it first. */
  private readonly owners = new Map<string, string>();
  private readonly problems = new Map<string, SpecProblem[]>();
  private readonly virtuals = new Map<string, VirtualSpec>();

  constructor(private readonly defaults: SpecDefaults) {}

  plan(connector: ResolvedConnector): ServerSpec[] {
    const { configId } = connector;
    for (const [id, owner] of this.owners) if (owner === configId) this.owners.delete(id);
    this.virtuals.delete(configId);
    if (isVirtual(connector)) {
      try {
        this.virtuals.set(configId, virtualSpecOf(connector));
        this.problems.set(configId, []);
      } catch (error) {
        this.problems.set(configId, [{ id: configId, configId, message: error instanceof Error ? error.message : String(error) }]);
      }
      return [];
    }
    const { specs, problems } = specsFromConnector(connector, this.defaults);
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
    this.virtuals.delete(configId);
  }

  /** The virtual server of this configId, if one is declared. */
  virtual(configId: string): VirtualSpec | undefined {
    return this.virtuals.get(configId);
  }

  allVirtuals(): VirtualSpec[] {
    return [...this.virtuals.values()];
  }

  /** Members that cannot run, of every connector. */
  allProblems(): SpecProblem[] {
    return [...this.problems.values()].flat();
  }

  problemsOf(configId: string): SpecProblem[] {
    return this.problems.get(configId) ?? [];
  }
}
