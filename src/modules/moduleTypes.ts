/**
 * Typed, versioned serialization of modules. A saved module is an envelope `{ type, version, state }`;
 * loading looks `type` up in a registry of explicitly registered names and never resolves a class from
 * data (the seed imported `module.__name__` found in the file, which runs arbitrary code on load).
 * Older versions are brought forward by the type's `migrate`; newer ones are refused.
 */
import {
  AlreadyExistsError,
  CorruptStateError,
  errorMessage,
  InvalidInputError,
  UnknownTypeError,
} from '../errors.ts';
import { AgentStateModule } from './agentState.ts';
import { requireNonEmptyString } from './checks.ts';
import { SessionStateModule } from './sessionState.ts';
import type { LoadStateOptions, StateModule } from './stateModule.ts';

/** A StateModule class. */
export type StateModuleClass<M extends StateModule = StateModule> = abstract new (...args: never[]) => M;

/** Brings state saved at `fromVersion` to the registered version. */
export type StateMigration = (state: Record<string, unknown>, fromVersion: number) => Record<string, unknown>;

/** Options of `registerModuleType`. */
export interface ModuleTypeOptions<M extends StateModule = StateModule> {
  /** Current version of the saved form, a positive integer (default 1). */
  version?: number;
  /** Upgrades older saved state; without it, loading an older version fails. */
  migrate?: StateMigration;
  /** Makes an empty instance to load into (default: `new ctor()`). */
  create?: () => M;
}

/** How a module is saved: its registered type name, the version of that form, and its `stateDict()`. */
export interface ModuleEnvelope {
  /** Registered type name. */
  type: string;
  /** Version of the saved form. */
  version: number;
  /** The module's `stateDict()`. */
  state: Record<string, unknown>;
}

interface ModuleType {
  readonly name: string;
  readonly ctor: StateModuleClass;
  readonly version: number;
  readonly migrate: StateMigration | undefined;
  readonly create: () => StateModule;
}

/** Options of `ModuleTypeRegistry`. */
export interface ModuleTypeRegistryOptions {
  /** Register the built-in `agentstate.agent` and `agentstate.session` types (default true). */
  builtins?: boolean;
}

/** Name of the built-in agent module type. */
export const AGENT_MODULE_TYPE = 'agentstate.agent';
/** Name of the built-in session module type. */
export const SESSION_MODULE_TYPE = 'agentstate.session';

/** Module types that may be saved and loaded; each registry is independent of the others. */
export class ModuleTypeRegistry {
  readonly #byName = new Map<string, ModuleType>();
  readonly #byClass = new Map<StateModuleClass, ModuleType>();

  constructor(options: ModuleTypeRegistryOptions = {}) {
    if (options.builtins ?? true) {
      this.register(AGENT_MODULE_TYPE, AgentStateModule, { create: () => new AgentStateModule('pending') });
      this.register(SESSION_MODULE_TYPE, SessionStateModule, {
        create: () => new SessionStateModule('pending'),
      });
    }
  }

  /** Registers `ctor` under `name`; the name is what saved data carries, so keep it stable. */
  register<M extends StateModule>(
    name: string,
    ctor: StateModuleClass<M>,
    options: ModuleTypeOptions<M> = {},
  ): this {
    requireNonEmptyString(name, 'name');
    const version = options.version ?? 1;
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new InvalidInputError(
        `module type '${name}' needs a positive integer version, got ${String(version)}`,
        {
          type: name,
          version,
        },
      );
    }
    if (this.#byName.has(name))
      throw new AlreadyExistsError(`module type '${name}' is already registered`, { type: name });
    const existing = this.#byClass.get(ctor);
    if (existing) {
      throw new AlreadyExistsError(`class ${ctor.name} is already registered as '${existing.name}'`, {
        type: name,
        registeredAs: existing.name,
      });
    }
    const create = options.create ?? (() => new (ctor as unknown as new () => M)());
    const entry: ModuleType = { name, ctor, version, migrate: options.migrate, create };
    this.#byName.set(name, entry);
    this.#byClass.set(ctor, entry);
    return this;
  }

  /** Whether a type name is registered. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** The registered name and version of a module's exact class. Throws `UNKNOWN_TYPE` when unregistered. */
  typeOf(module: StateModule): { type: string; version: number } {
    const entry = this.#byClass.get(module.constructor as StateModuleClass);
    if (!entry) {
      const name = module.constructor.name;
      throw new UnknownTypeError(
        `class ${name} is not a registered module type: call registerModuleType('<stable name>', ${name}, { version: 1 })`,
        { className: name },
      );
    }
    return { type: entry.name, version: entry.version };
  }

  /** The envelope a module is saved as. */
  toEnvelope(module: StateModule): ModuleEnvelope {
    const { type, version } = this.typeOf(module);
    return { type, version, state: module.stateDict() };
  }

  /**
   * Rebuilds a module from an envelope: the type must be registered (and, with `expected`, be that class
   * or a subclass), an older version is migrated, and the state is loaded (strict by default).
   */
  fromEnvelope<M extends StateModule = StateModule>(
    data: unknown,
    options: LoadStateOptions & { expected?: StateModuleClass<M> } = {},
  ): M {
    const { entry, state } = this.#read(data);
    let module: StateModule;
    try {
      module = entry.create();
    } catch (error) {
      throw new InvalidInputError(
        `could not make an empty '${entry.name}' to load into (${errorMessage(error)}): register the type with { create: () => new ${entry.ctor.name}(...) }`,
        { type: entry.name },
        { cause: error },
      );
    }
    if (options.expected && !(module instanceof options.expected)) {
      throw new UnknownTypeError(`saved module of type '${entry.name}' is not a ${options.expected.name}`, {
        type: entry.name,
        expected: options.expected.name,
      });
    }
    module.loadStateDict(state, options);
    return module as M;
  }

  /**
   * Loads an envelope into an existing module: the saved type must be the module's own registered type
   * (older versions are migrated). A failed load leaves the module unchanged.
   */
  loadInto<M extends StateModule>(data: unknown, module: M, options: LoadStateOptions = {}): M {
    const own = this.typeOf(module);
    const { entry, state } = this.#read(data);
    if (entry.name !== own.type) {
      throw new UnknownTypeError(`saved module is of type '${entry.name}', not '${own.type}'`, {
        type: entry.name,
        expected: own.type,
      });
    }
    module.loadStateDict(state, options);
    return module;
  }

  // Checks an envelope against the registry and migrates its state to the registered version.
  #read(data: unknown): { entry: ModuleType; state: Record<string, unknown> } {
    if (!isEnvelope(data)) {
      throw new CorruptStateError('saved module must be { type: string, version: integer, state: object }', {
        got: data === null ? 'null' : typeof data,
      });
    }
    const entry = this.#byName.get(data.type);
    if (!entry) {
      throw new UnknownTypeError(
        `saved module is of type '${data.type}', which is not registered: call registerModuleType('${data.type}', ...) first`,
        { type: data.type },
      );
    }
    if (data.version > entry.version) {
      throw new UnknownTypeError(
        `saved module '${data.type}' is version ${data.version}, newer than the registered version ${entry.version}; upgrade the code that reads it`,
        { type: data.type, version: data.version, registeredVersion: entry.version },
      );
    }
    const state = data.version < entry.version ? migrate(entry, data.state, data.version) : data.state;
    return { entry, state };
  }
}

function migrate(
  entry: ModuleType,
  state: Record<string, unknown>,
  fromVersion: number,
): Record<string, unknown> {
  if (!entry.migrate) {
    throw new UnknownTypeError(
      `saved module '${entry.name}' is version ${fromVersion} and type '${entry.name}' (version ${entry.version}) has no migrate function`,
      { type: entry.name, version: fromVersion, registeredVersion: entry.version },
    );
  }
  try {
    return entry.migrate(state, fromVersion);
  } catch (error) {
    throw new InvalidInputError(
      `migrating '${entry.name}' from version ${fromVersion} to ${entry.version} failed: ${errorMessage(error)}`,
      { type: entry.name, version: fromVersion, registeredVersion: entry.version },
      { cause: error },
    );
  }
}

function isEnvelope(data: unknown): data is ModuleEnvelope {
  if (data === null || typeof data !== 'object') return false;
  const d = data as Record<string, unknown>;
  return (
    typeof d.type === 'string' &&
    Number.isSafeInteger(d.version) &&
    (d.version as number) >= 1 &&
    d.state !== null &&
    typeof d.state === 'object' &&
    !Array.isArray(d.state)
  );
}

/** The default registry, with the built-in agent and session types. */
export const moduleTypes: ModuleTypeRegistry = new ModuleTypeRegistry();

/** Registers a module type on the default registry (see `ModuleTypeRegistry.register`). */
export function registerModuleType<M extends StateModule>(
  name: string,
  ctor: StateModuleClass<M>,
  options: ModuleTypeOptions<M> = {},
): ModuleTypeRegistry {
  return moduleTypes.register(name, ctor, options);
}
