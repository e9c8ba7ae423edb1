/**
 * `StateModule`: an object whose registered attributes and nested modules can be saved as plain data and
 * restored, after the AgentScope design (seed 004, section 1-2), with the gaps of that design closed:
 * strictness reaches every nested module, a failed load changes nothing, values are validated on load
 * AND on assignment, and a value the codec cannot store is refused when it is registered, naming the path.
 *
 * How assignments are seen: `registerState(attr)` replaces the own data property with an accessor on the
 * instance (the value moves into a private map). It is called in the subclass constructor body, after the
 * class fields have been defined, so it works with ordinary class fields. A Proxy returned from the base
 * constructor was rejected: every property read would go through a trap, and methods called through the
 * proxy fail the brand check of `#private` fields. If something later redefines the property (a field of
 * a further subclass, `Object.defineProperty`), the next `stateDict`/load adopts the new value and
 * reinstalls the accessor.
 *
 * Nested modules need no registration: any own enumerable property holding a `StateModule` when
 * `stateDict()` or `loadStateDict()` runs is one, at any depth. Keep a module out of the state by holding it
 * in a `#private` field or a non-enumerable property (a back-reference to a parent, for example).
 */
import { type Codec, codec as defaultCodec, type JsonValue, propertyPath, setOwn } from '../codec/index.ts';
import { errorMessage, InvalidInputError, UnknownKeyError, UnsupportedValueError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import { checkAttributeValue, type StateAttributeOptions } from './attributeCheck.ts';
import { isPlainObject } from './checks.ts';

/** Called after a registered attribute is assigned: `(attribute, oldValue, newValue)`. */
export type StateChangeListener = (attribute: string, oldValue: unknown, newValue: unknown) => void;

/**
 * Receives an error thrown by a change listener (the assignment itself still succeeds).
 * @deprecated The handler type of the deprecated `onListenerError`; use `onError` (a `BackgroundErrorHandler`).
 */
export type ListenerErrorHandler = (error: unknown, attribute: string, module: StateModule) => void;

/** Options of the `StateModule` constructor. */
export interface StateModuleOptions {
  /** Codec that checks and copies state values (default: the package's default codec). */
  codec?: Codec;
  /**
   * Receives an error thrown by a change listener, with the module class and attribute in its details
   * (default: a process warning); the assignment itself stands.
   */
  onError?: BackgroundErrorHandler;
  /** @deprecated Use `onError`; when both are given, this one gets the listener errors. */
  onListenerError?: ListenerErrorHandler;
}

/** Options of `loadStateDict`. */
export interface LoadStateOptions {
  /** Refuse missing and unexpected keys, in this module and every nested one (default true). */
  strict?: boolean;
  /**
   * Copy the given values before they become live (default true). Pass false only for data nobody else
   * holds, such as a value just decoded from storage: it skips one encode/decode pass per attribute.
   */
  copy?: boolean;
}

/** A load that has been fully checked and converted; `commit()` assigns everything (it cannot fail). */
export interface PreparedStateLoad {
  /** Assigns every prepared value; listeners fire. A second call does nothing. */
  commit(): void;
}

interface Registration {
  readonly options: StateAttributeOptions;
  /** `$.attr`, kept because building paths (a regexp test each) showed up in profiles of the hot path. */
  readonly rootPath: string;
  readonly get: () => unknown;
  readonly set: (value: unknown) => void;
}

interface Assignment {
  readonly module: StateModule;
  readonly attribute: string;
  readonly value: unknown;
}

/** Base class of objects with saveable state: registered attributes plus nested modules. */
export class StateModule {
  readonly #values = new Map<string, unknown>();
  // Insertion order is the order of `stateDict()` keys after the nested modules.
  readonly #registry = new Map<string, Registration>();
  readonly #listeners = new Map<string, Set<StateChangeListener>>();
  readonly #codec: Codec;
  readonly #onError: BackgroundErrorHandler | undefined;

  constructor(options: StateModuleOptions = {}) {
    this.#codec = options.codec ?? defaultCodec;
    const { onListenerError } = options;
    this.#onError = onListenerError
      ? (error, context) => onListenerError(error, context.details?.attribute as string, this)
      : options.onError;
  }

  /** The codec this module checks and copies its values with. */
  stateCodec(): Codec {
    return this.#codec;
  }

  /**
   * Makes `attr` part of the state. Its current value must pass `validate`/`schema` and be storable by the
   * codec (after `toJSON`); otherwise this throws, naming the path. Call it after the field is set.
   * `T` types the value seen by `toJSON`/`fromJSON`/`validate`: `registerState<Date>('when', {...})`.
   */
  registerState<T = unknown>(attr: string, options: StateAttributeOptions<T> = {}): void {
    if (typeof attr !== 'string' || attr.length === 0) {
      throw new InvalidInputError('registerState needs a non-empty attribute name', { attribute: attr });
    }
    const path = propertyPath('$', attr);
    if (this.#registry.has(attr)) {
      throw new InvalidInputError(`state attribute ${path} is already registered`, { path, attribute: attr });
    }
    const opts = options as StateAttributeOptions;
    const value = (this as unknown as Record<string, unknown>)[attr];
    if (value instanceof StateModule) {
      throw new InvalidInputError(
        `${path} holds a StateModule: nested modules are included automatically, do not register them`,
        { path, attribute: attr },
      );
    }
    checkAttributeValue(opts, value, path);
    this.#codec.assertEncodable(convertOut(opts, value, path), path);
    const registration: Registration = {
      options: opts,
      rootPath: path,
      get: () => this.#values.get(attr),
      set: (next) => this.#assign(attr, next, true),
    };
    this.#registry.set(attr, registration);
    this.#values.set(attr, value);
    this.#install(attr, registration);
  }

  /** Names of the registered attributes, in registration order. */
  registeredAttributes(): string[] {
    return [...this.#registry.keys()];
  }

  /**
   * Calls `listener(attribute, oldValue, newValue)` whenever `attr` (or, with `'*'`, any registered
   * attribute) is assigned, including by `loadStateDict`. A throwing listener is reported to
   * `onListenerError`, never to the code that assigned. Returns a function that removes the listener.
   */
  onStateChange(attr: string, listener: StateChangeListener): () => void {
    if (attr !== '*' && !this.#registry.has(attr)) {
      throw new UnknownKeyError(`cannot listen to '${attr}': it is not a registered state attribute`, {
        attribute: attr,
        registered: this.registeredAttributes(),
      });
    }
    let set = this.#listeners.get(attr);
    if (!set) {
      set = new Set();
      this.#listeners.set(attr, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /**
   * Tells listeners that a registered attribute changed in place (an array push, a Map set), which an
   * accessor cannot see. Old and new value are the same object.
   */
  markChanged(attr: string): void {
    if (!this.#registry.has(attr)) {
      throw new UnknownKeyError(`'${attr}' is not a registered state attribute`, { attribute: attr });
    }
    const value = this.#values.get(attr);
    this.#notify(attr, value, value);
  }

  /**
   * The state as plain data the codec can store: nested modules first (by property order), then the
   * registered attributes (after `toJSON`). The result is a detached copy: changing it, or the module
   * later, does not affect the other. `omit` leaves out top-level attributes a caller stores on its own
   * (sessions store their messages incrementally), so they are not copied for nothing.
   */
  stateDict(options: { omit?: ReadonlySet<string> } = {}): Record<string, unknown> {
    return this.#collect('$', new Set(), undefined, options.omit);
  }

  /**
   * `stateCodec().encode(stateDict())`, in one pass: the encoded form is already detached, so the values
   * are not first copied through the codec (which `stateDict` does) only to be encoded again.
   */
  encodedStateDict(): JsonValue {
    return this.#codec.encode(this.#collect('$', new Set(), this.#codec));
  }

  /**
   * Restores state saved by `stateDict()`. Everything (this module and every nested one) is checked and
   * converted before anything is assigned, so a failed load leaves the module as it was.
   */
  loadStateDict(data: unknown, options: LoadStateOptions = {}): void {
    this.prepareStateLoad(data, options).commit();
  }

  /**
   * The checking half of `loadStateDict`: throws on bad data, otherwise returns a `commit()` that assigns.
   * Lets a caller check many modules first and then commit them all (all-or-nothing across modules).
   */
  prepareStateLoad(data: unknown, options: LoadStateOptions = {}): PreparedStateLoad {
    const assignments: Assignment[] = [];
    this.#plan(data, '$', options.strict ?? true, options.copy ?? true, new Set(), assignments);
    let done = false;
    return {
      commit: () => {
        if (done) return;
        done = true;
        for (const { module, attribute, value } of assignments) module.#assign(attribute, value, false);
      },
    };
  }

  #install(attr: string, registration: Registration): void {
    Object.defineProperty(this, attr, {
      configurable: true,
      enumerable: true,
      get: registration.get,
      set: registration.set,
    });
  }

  // Adopts values of registered attributes whose accessor was replaced (see the file comment).
  #heal(): void {
    for (const [attr, registration] of this.#registry) {
      const descriptor = Object.getOwnPropertyDescriptor(this, attr);
      if (descriptor?.get === registration.get) continue;
      if (descriptor && 'value' in descriptor) {
        checkAttributeValue(registration.options, descriptor.value, registration.rootPath);
        this.#values.set(attr, descriptor.value);
      }
      this.#install(attr, registration);
    }
  }

  #assign(attr: string, value: unknown, validate: boolean): void {
    const registration = this.#registry.get(attr)!;
    if (validate) checkAttributeValue(registration.options, value, registration.rootPath);
    const old = this.#values.get(attr);
    this.#values.set(attr, value);
    this.#notify(attr, old, value);
  }

  #notify(attr: string, oldValue: unknown, newValue: unknown): void {
    const exact = this.#listeners.get(attr);
    const any = this.#listeners.get('*');
    if (!exact?.size && !any?.size) return;
    // Copies, so a listener that unsubscribes (itself or another) does not disturb this round.
    for (const listener of [...(exact ?? []), ...(any ?? [])]) {
      try {
        listener(attr, oldValue, newValue);
      } catch (error) {
        // Never throws (a handler that throws becomes a warning): the assignment stands.
        reportBackgroundError(this.#onError, error, {
          source: 'StateModule change listener',
          details: { module: this.constructor.name, attribute: attr },
        });
      }
    }
  }

  #nested(): Array<[string, StateModule]> {
    const found: Array<[string, StateModule]> = [];
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(this)) {
      if (this.#registry.has(key)) continue;
      const value = self[key];
      if (value instanceof StateModule) found.push([key, value]);
    }
    return found;
  }

  #enter(path: string, ancestors: Set<StateModule>): void {
    if (ancestors.has(this)) {
      throw new UnsupportedValueError(
        `module at ${path} contains itself: hold back-references in a #private field so they are not state`,
        { path },
      );
    }
    ancestors.add(this);
    this.#heal();
  }

  // `encodingWith`: the codec that will encode the result. A module with that same codec skips the copy;
  // one with another codec still copies, since its own codec must be the one to refuse what it cannot store.
  #collect(
    path: string,
    ancestors: Set<StateModule>,
    encodingWith: Codec | undefined,
    omit?: ReadonlySet<string>,
  ): Record<string, unknown> {
    this.#enter(path, ancestors);
    const copy = this.#codec !== encodingWith;
    const out: Record<string, unknown> = {};
    for (const [key, child] of this.#nested())
      setOwn(out, key, child.#collect(propertyPath(path, key), ancestors, encodingWith));
    for (const [attr, registration] of this.#registry) {
      if (omit?.has(attr)) continue;
      const attrPath = path === '$' ? registration.rootPath : propertyPath(path, attr);
      const value = convertOut(registration.options, this.#values.get(attr), attrPath);
      setOwn(out, attr, copy ? this.#copy(value, attrPath) : value);
    }
    ancestors.delete(this);
    return out;
  }

  #plan(
    data: unknown,
    path: string,
    strict: boolean,
    copy: boolean,
    ancestors: Set<StateModule>,
    out: Assignment[],
  ): void {
    if (!isPlainObject(data)) {
      throw new InvalidInputError(`state at ${path} must be a plain object, got ${describe(data)}`, { path });
    }
    this.#enter(path, ancestors);
    const nested = this.#nested();
    if (strict) {
      const expected = [...nested.map(([key]) => key), ...this.#registry.keys()];
      const missing = expected.filter((key) => !Object.hasOwn(data, key));
      if (missing.length > 0) {
        throw new InvalidInputError(
          `state at ${path} is missing ${missing.map((k) => `'${k}'`).join(', ')} (strict load; pass { strict: false } to keep current values)`,
          { path, missing },
        );
      }
      const known = new Set(expected);
      const unexpected = Object.keys(data).filter((key) => !known.has(key));
      if (unexpected.length > 0) {
        throw new UnknownKeyError(
          `state at ${path} has unexpected ${unexpected.map((k) => `'${k}'`).join(', ')} (strict load; pass { strict: false } to ignore them)`,
          { path, unexpected },
        );
      }
    }
    for (const [key, child] of nested) {
      if (Object.hasOwn(data, key))
        child.#plan(data[key], propertyPath(path, key), strict, copy, ancestors, out);
    }
    for (const [attr, registration] of this.#registry) {
      if (!Object.hasOwn(data, attr)) continue;
      const attrPath = path === '$' ? registration.rootPath : propertyPath(path, attr);
      // A copy, so the caller's object (or a snapshot) never becomes the live value.
      const raw = copy ? this.#copy(data[attr], attrPath) : data[attr];
      const value = convertIn(registration.options, raw, attrPath);
      checkAttributeValue(registration.options, value, attrPath);
      out.push({ module: this, attribute: attr, value });
    }
    ancestors.delete(this);
  }

  // A detached copy through the codec, which also refuses (naming the path) what it cannot store.
  #copy(value: unknown, path: string): unknown {
    if (
      value === null ||
      (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')
    ) {
      return value;
    }
    return this.#codec.decode(this.#codec.encode(value, path), path);
  }
}

function convertOut(options: StateAttributeOptions, value: unknown, path: string): unknown {
  if (!options.toJSON) return value;
  try {
    return options.toJSON(value);
  } catch (error) {
    throw new InvalidInputError(
      `toJSON of ${path} threw: ${errorMessage(error)}`,
      { path },
      {
        cause: error,
      },
    );
  }
}

function convertIn(options: StateAttributeOptions, data: unknown, path: string): unknown {
  if (!options.fromJSON) return data;
  try {
    return options.fromJSON(data);
  } catch (error) {
    throw new InvalidInputError(
      `fromJSON of ${path} refused the stored data: ${errorMessage(error)}`,
      { path },
      { cause: error },
    );
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'unknown'}`;
  return typeof value;
}
