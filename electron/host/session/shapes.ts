// Line shapes: reading the offers and decisions of a session file without JSON.parse.
//
// The lines of one recording repeat a few shapes: the same keys in the same order, with different
// numbers and strings. A shape is learned from a line that the reader has parsed and checked in
// full (./validate.ts) and that is exactly what JSON.stringify writes for it (as the recorder
// does). It is a regular expression: the line's text, where every number and string value is
// replaced by a pattern for the JSON texts its check accepts (Check.node.json); the `type`, the
// keys, the punctuation and true / false / null stay literal text.
//
// A line that matches is valid JSON (each pattern matches only complete JSON numbers, or strings
// without escapes), parses to an object of the same structure, and passes the line checks: every
// value does. The only check spanning several values (a FLOWSPEC value must be QOS_NOT_SPECIFIED
// unless `derived` names it) depends on keys, which are literal, so it is folded into the value
// patterns (4294967295 itself, for a value `derived` does not name). A value whose check has no
// pattern is matched by a general one and checked when the line matches. The values a reader
// wants are capture groups, as is the text of one value handed on as it is (the SQOS: the sandbox
// takes it as JSON text): the same characters JSON.stringify writes for the value.
//
// Anything else - a new shape, a bad value, an escape, spaces - does not match, and the reader
// takes the line the long way (JSON.parse, the full checks), which gives the error message when
// there is a problem, and may learn its shape for the following lines.
import { QOS_NOT_SPECIFIED } from '../types';
import { PLAIN_STRING, eventCheck, isPlainObject, type Check, type EventType } from './validate';

/** What a reader delivers for the records of one type, instead of event objects. */
export interface RecordLayout {
  type: EventType;
  /** Dotted paths of the scalar values wanted, e.g. "caller.port" (undefined when absent). */
  fields: readonly string[];
  /**
   * Dotted path of a value wanted as its JSON text (as JSON.stringify writes it), delivered after
   * the fields; null when the value is null or absent.
   */
  text?: string;
}

/** At most this many shapes are kept (a recording has a handful). */
export const MAX_SHAPES = 64;
/** A line is tried against at most this many shapes of its type, the most recently matched. */
const MAX_TRIES = 12;
/** Lines that teach no shape (not written as JSON.stringify writes them) before learning slows down. */
const MAX_UNLEARNABLE = 64;

/** Any JSON number (checked after the match), and numbers where no check applies. */
const ANY_NUMBER = '-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?';
const FREE_NUMBER = '(?:0|-?[1-9]\\d{0,14})'; // integers, as JSON.stringify writes them

const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** A capture group of a shape: a value the reader wants, or one to check after the match. */
interface Capture {
  /** Index in the layout's LineShapes.values, or -1. */
  out: number;
  number: boolean;
  /** Run after the match (the value's check has no pattern). */
  check: Check | null;
  /** Must be written as JSON.stringify writes it (inside the text handed on). */
  canonical: boolean;
}

interface Shape {
  layout: number;
  re: RegExp;
  /** Capture group g is caps[g - 1]. */
  caps: Capture[];
  /** The group of the layout's text, or 0. */
  textGroup: number;
  /** Fields that are not captured: [index in values, value]. */
  consts: [number, unknown][];
  source: string;
}

const TYPE_PREFIX = '{"type":"';

/** The record type at the start of a line as the recorder writes it, else "". */
function typeKey(line: string): string {
  if (!line.startsWith(TYPE_PREFIX)) return '';
  const end = line.indexOf('"', TYPE_PREFIX.length);
  return end < 0 ? '' : line.slice(TYPE_PREFIX.length, end);
}

/** Learned shapes of the records of some layouts, and matching lines against them. */
export class LineShapes {
  /**
   * Per layout: after a match, its fields in order, then its text (or null) if it has one.
   * Reused for every line.
   */
  readonly values: unknown[][];
  /** Shapes by the type their lines start with, most recently matched first. */
  private readonly byKey = new Map<string, Shape[]>();
  private readonly byType = new Map<string, number>();
  /** Every shape by its regular expression's source. */
  private readonly sources = new Map<string, Shape>();
  private count = 0;
  private unlearnable = 0;
  private skipped = 0;

  constructor(private readonly layouts: readonly RecordLayout[]) {
    layouts.forEach((l, i) => this.byType.set(l.type, i));
    this.values = layouts.map((l) => new Array<unknown>(l.fields.length + (l.text !== undefined ? 1 : 0)).fill(undefined));
  }

  /** The layout for records of `type`, or -1. */
  layoutOf(type: unknown): number {
    return typeof type === 'string' ? this.byType.get(type) ?? -1 : -1;
  }

  /** Number of shapes learned. */
  get size(): number { return this.count; }

  /**
   * Matches a line (without its line end) against the shapes learned so far. Returns the layout
   * index and fills its `values`, or -1 (then they hold nothing useful).
   */
  match(line: string): number {
    const shapes = this.byKey.get(typeKey(line));
    if (shapes === undefined) return -1;
    const n = Math.min(shapes.length, MAX_TRIES);
    for (let i = 0; i < n; i++) {
      const s = shapes[i]!;
      if (!this.run(s, line)) continue;
      if (i !== 0) {
        shapes.splice(i, 1);
        shapes.unshift(s);
      }
      return s.layout;
    }
    return -1;
  }

  /**
   * Learns the shape of a line the reader has parsed (`value`) and found valid, a record of
   * layout `layout`. Does nothing when the line is not exactly JSON.stringify(value), or when
   * enough shapes are known. Returns whether it learned one.
   */
  learn(line: string, value: Record<string, unknown>, layout: number): boolean {
    // Past the budget of lines that teach nothing, or with the shapes all taken, try one line in
    // 64: a file written otherwise (e.g. with spaces) costs little, and a shape that turns up
    // late in a recording is still learned.
    if ((this.unlearnable >= MAX_UNLEARNABLE || this.count >= MAX_SHAPES) && (++this.skipped & 63) !== 0) return false;
    const l = this.layouts[layout];
    const check = l && value.type === l.type ? eventCheck(l.type) : undefined;
    if (!check || JSON.stringify(value) !== line) {
      this.unlearnable++;
      return false;
    }
    const built = new ShapeBuilder(l!, layout).build(value, check);
    if (!built) {
      this.unlearnable++;
      return false;
    }
    const key = typeKey(line);
    let shapes = this.byKey.get(key);
    if (!shapes) this.byKey.set(key, shapes = []);
    const known = this.sources.get(built.source);
    if (known) {
      // A shape already known: the line did not match it because of one of its values (e.g. a
      // string with an escape), or the shape was not among the ones tried: try it first now.
      shapes.splice(shapes.indexOf(known), 1);
      shapes.unshift(known);
      this.unlearnable++;
      return false;
    }
    if (this.count >= MAX_SHAPES) return false;
    let shape: Shape;
    try {
      shape = { ...built, re: new RegExp(built.source) };
    } catch {
      this.unlearnable++; // not expected (a pattern the RegExp engine refuses): such lines are parsed
      return false;
    }
    if (!this.run(shape, line)) {
      this.unlearnable++; // not expected either: a shape matches the line it is made from
      return false;
    }
    this.sources.set(shape.source, shape);
    shapes.unshift(shape);
    this.count++;
    return true;
  }

  /** Matches one shape. */
  private run(s: Shape, line: string): boolean {
    const m = s.re.exec(line);
    if (m === null) return false;
    const values = this.values[s.layout]!;
    const caps = s.caps;
    for (let g = 1; g <= caps.length; g++) {
      const c = caps[g - 1]!;
      const text = m[g]!;
      const v = c.number ? Number(text) : text;
      if (c.check !== null && (c.check(v, '') !== null || (c.canonical && String(v) !== text))) return false;
      if (c.out >= 0) values[c.out] = v;
    }
    const consts = s.consts;
    for (let i = 0; i < consts.length; i++) values[consts[i]![0]] = consts[i]![1];
    if (s.textGroup !== 0) values[values.length - 1] = m[s.textGroup];
    return true;
  }
}

/** Makes the shape of one parsed, valid line, walking it as JSON.stringify would write it. */
class ShapeBuilder {
  private source = '';
  private readonly caps: Capture[] = [];
  private readonly consts: [number, unknown][] = [];
  private readonly wanted = new Map<string, number>();
  private textGroup = 0;
  private inText = false;
  private ok = true;

  constructor(private readonly layout: RecordLayout, private readonly index: number) {
    layout.fields.forEach((f, i) => this.wanted.set(f, i));
  }

  build(value: Record<string, unknown>, check: Check): Omit<Shape, 're'> | null {
    const textAt = this.layout.fields.length;
    for (const [f, i] of this.wanted) if (this.find(value, f) === undefined) this.consts.push([i, undefined]);
    if (this.layout.text !== undefined && (this.find(value, this.layout.text) ?? null) === null) this.consts.push([textAt, null]);
    this.value(value, check, '');
    if (!this.ok) return null;
    const source = `^${this.source}$`;
    return { layout: this.index, caps: this.caps, textGroup: this.textGroup, consts: this.consts, source };
  }

  private find(value: Record<string, unknown>, path: string): unknown {
    let v: unknown = value;
    for (const key of path.split('.')) v = isPlainObject(v) && Object.hasOwn(v, key) ? v[key] : undefined;
    return v;
  }

  private literal(text: string): void {
    this.source += regexEscape(text);
  }

  /** A number or string value: its pattern, captured when wanted or checked afterwards. */
  private slot(type: 'number' | 'string', check: Check | undefined, want: number): void {
    const node = check?.node;
    const json = node?.kind === 'scalar' ? node.json : undefined;
    let pattern: string;
    let after: Check | null = null;
    if (!check) {
      pattern = type === 'number' ? FREE_NUMBER : PLAIN_STRING;
    } else if (json && json.type === type && (json.canonical || !this.inText)) {
      pattern = json.pattern;
    } else {
      pattern = type === 'number' ? ANY_NUMBER : PLAIN_STRING;
      after = check;
    }
    const quote = type === 'string' ? '"' : '';
    if (want >= 0 || after !== null) {
      this.caps.push({ out: want, number: type === 'number', check: after, canonical: this.inText && type === 'number' });
      this.source += `${quote}(${pattern})${quote}`;
    } else {
      this.source += `${quote}(?:${pattern})${quote}`;
    }
  }

  private value(v: unknown, check: Check | undefined, path: string): void {
    if (check?.node.kind === 'nullable' && v !== null) check = check.node.inner;
    const want = this.wanted.get(path) ?? -1;
    if (path !== '' && path === this.layout.text && v !== null) {
      // The value's text is handed on: one capture group around it.
      this.caps.push({ out: -1, number: false, check: null, canonical: false });
      this.textGroup = this.caps.length;
      this.source += '(';
      this.inText = true;
      this.plainValue(v, check, path, -1);
      this.inText = false;
      this.source += ')';
    } else {
      this.plainValue(v, check, path, want);
    }
  }

  private plainValue(v: unknown, check: Check | undefined, path: string, want: number): void {
    if (typeof v === 'number') {
      this.slot('number', check, want);
    } else if (typeof v === 'string') {
      this.slot('string', check, want);
    } else if (v === null || typeof v === 'boolean') {
      if (want >= 0) this.consts.push([want, v]);
      this.literal(JSON.stringify(v));
    } else if (Array.isArray(v)) {
      // No check looks into arrays: the whole array is literal text.
      if (want >= 0) this.ok = false; // only scalars are delivered as fields
      this.literal(JSON.stringify(v));
    } else if (isPlainObject(v)) {
      if (want >= 0) this.ok = false;
      const node = check?.node;
      this.literal('{');
      let first = true;
      for (const key of Object.keys(v)) {
        this.literal(`${first ? '' : ','}${JSON.stringify(key)}:`);
        first = false;
        const at = path === '' ? key : `${path}.${key}`;
        if (at === 'type') {
          // The record type stays literal text: it decides which checks apply.
          const w = this.wanted.get(at);
          if (w !== undefined) this.consts.push([w, v[key]]);
          this.literal(JSON.stringify(v[key]));
          continue;
        }
        let child: Check | undefined;
        if (node?.kind === 'object') {
          child = node.fields.get(key)?.check;
          const m = node.measured;
          if (child && m && m.fields.includes(key) && !Object.hasOwn(v[m.sources] as object, key)) {
            // Not measured: QOS_NOT_SPECIFIED is the only value allowed.
            if (v[key] !== QOS_NOT_SPECIFIED || child(QOS_NOT_SPECIFIED, '') !== null) this.ok = false;
            if (this.wanted.has(at)) this.consts.push([this.wanted.get(at)!, QOS_NOT_SPECIFIED]);
            this.literal(String(QOS_NOT_SPECIFIED));
            continue;
          }
        } else if (node?.kind === 'record') {
          child = node.value;
        }
        this.value(v[key], child, at);
      }
      this.literal('}');
    } else {
      this.ok = false;
    }
  }
}
