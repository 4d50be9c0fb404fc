// A fake `premierepro` module for tests: a small project model (bins, sequences, tracks, track
// items, media files) behind the subset of the 26.3 API the panel uses, enforcing the host's
// rules:
// - every create*Action only inside project.lockedAccess() or an executeTransaction callback;
// - compoundAction.addAction only inside executeTransaction, with an action made in the same
//   lock scope (actions must not escape it);
// - lockedAccess / executeTransaction callbacks synchronous (a returned Promise is an error);
// - executeTransaction inside lockedAccess with an undo label (Adobe's recommended shape; the
//   fake is stricter than the host here on purpose);
// - getters async, TickTime.createWithTicks takes a decimal string only;
// - importFiles refuses `undefined` as the target bin (null = root) and answers only a boolean.
// A committed transaction is one undo entry; undo() restores the model as it was before it.
// Browser-safe (no node imports): the E2E test bundles it into the page.

export const TPS = 254_016_000_000n;

export class RuleViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuleViolation';
  }
}

function isThenable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

// ---------------------------------------------------------------------------------------------
// Time

export class FakeTickTime {
  constructor(readonly big: bigint) {}
  get ticks(): string {
    return this.big.toString();
  }
  get ticksNumber(): number {
    return Number(this.big);
  }
  get seconds(): number {
    return Number(this.big) / Number(TPS);
  }
  add(other: FakeTickTime): FakeTickTime {
    return new FakeTickTime(this.big + asTick(other).big);
  }
  subtract(other: FakeTickTime): FakeTickTime {
    return new FakeTickTime(this.big - asTick(other).big);
  }
  multiply(factor: number): FakeTickTime {
    return new FakeTickTime(BigInt(Math.round(Number(this.big) * factor)));
  }
  divide(divisor: number): FakeTickTime {
    return new FakeTickTime(BigInt(Math.round(Number(this.big) / divisor)));
  }
  equals(other: FakeTickTime): boolean {
    return this.big === asTick(other).big;
  }
  alignToFrame(rate: FakeFrameRate): FakeTickTime {
    const tpf = BigInt(rate.ticksPerFrame);
    return new FakeTickTime((this.big / tpf) * tpf);
  }
  alignToNearestFrame(rate: FakeFrameRate): FakeTickTime {
    const tpf = BigInt(rate.ticksPerFrame);
    return new FakeTickTime(((this.big * 2n + tpf) / (2n * tpf)) * tpf);
  }
}

function asTick(value: unknown): FakeTickTime {
  if (!(value instanceof FakeTickTime)) throw new TypeError('Illegal Parameter type: expected a TickTime');
  return value;
}

export class FakeFrameRate {
  constructor(public ticksPerFrame: number) {}
  get value(): number {
    return Number(TPS) / this.ticksPerFrame;
  }
  equals(other: FakeFrameRate): boolean {
    return other.ticksPerFrame === this.ticksPerFrame;
  }
}

const TickTimeStatic = {
  createWithTicks(ticks: string): FakeTickTime {
    if (typeof ticks !== 'string' || !/^-?\d+$/.test(ticks)) {
      throw new TypeError(`Illegal Parameter type: TickTime.createWithTicks needs ticks as a decimal string, got ${typeof ticks} ${String(ticks)}`);
    }
    return new FakeTickTime(BigInt(ticks));
  },
  createWithSeconds(seconds: number): FakeTickTime {
    return new FakeTickTime(BigInt(Math.round(seconds * Number(TPS))));
  },
  createWithFrameAndFrameRate(frames: number, rate: FakeFrameRate): FakeTickTime {
    return new FakeTickTime(BigInt(frames) * BigInt(rate.ticksPerFrame));
  },
  TIME_ZERO: new FakeTickTime(0n),
  TIME_ONE_SECOND: new FakeTickTime(TPS),
};

// ---------------------------------------------------------------------------------------------
// Constants (opaque strings: code must use the names, never the numbers)

const Constants = {
  TrackItemType: { EMPTY: 'TrackItemType.EMPTY', CLIP: 'TrackItemType.CLIP', TRANSITION: 'TrackItemType.TRANSITION' },
  MediaType: { ANY: 'MediaType.ANY', DATA: 'MediaType.DATA', VIDEO: 'MediaType.VIDEO', AUDIO: 'MediaType.AUDIO' },
  ContentType: { ANY: 'ContentType.ANY', SEQUENCE: 'ContentType.SEQUENCE', MEDIA: 'ContentType.MEDIA' },
  SequenceEvent: { ACTIVATED: 'SequenceEvent.ACTIVATED', CLOSED: 'SequenceEvent.CLOSED', SELECTION_CHANGED: 'SequenceEvent.SELECTION_CHANGED' },
  ProjectEvent: {
    OPENED: 'ProjectEvent.OPENED',
    CLOSED: 'ProjectEvent.CLOSED',
    DIRTY: 'ProjectEvent.DIRTY',
    ACTIVATED: 'ProjectEvent.ACTIVATED',
    PROJECT_ITEM_SELECTION_CHANGED: 'ProjectEvent.PROJECT_ITEM_SELECTION_CHANGED',
  },
  OperationCompleteEvent: { IMPORT_MEDIA_COMPLETE: 'OperationCompleteEvent.IMPORT_MEDIA_COMPLETE' },
};

/** ppro.OperationCompleteEvent's states (numbers in the d.ts). */
const OPERATION_STATE = { SUCCESS: 0, CANCELLED: 1, FAILED: 2 };

// ---------------------------------------------------------------------------------------------
// Model

export interface MediaSpec {
  path: string;
  kind?: 'video' | 'image' | 'audio';
  /** Frame rate as Premiere's footage interpretation reports it (a float). */
  fps?: number;
  /** Exact ticks per media frame; default from fps (rounded). */
  ticksPerFrame?: bigint;
  /** Length in media frames. */
  frames?: number;
  hasAudio?: boolean;
}

interface MediaFile {
  path: string;
  kind: 'video' | 'image' | 'audio';
  fps: number;
  ticksPerFrame: bigint;
  durationTicks: bigint;
  hasAudio: boolean;
}

let nextId = 1;

export class FakeProjectItem {
  readonly id = `item-${nextId++}`;
  constructor(
    public name: string,
    readonly type: number,
  ) {}
  parent: FakeFolderItem | undefined;
  getId(): string {
    return this.id;
  }
  getParentBin(): FakeFolderItem | undefined {
    return this.parent;
  }
}

export const ITEM_TYPES = { CLIP: 1, BIN: 2, ROOT: 3, FILE: 4 } as const;

export class FakeClipProjectItem extends FakeProjectItem {
  offline = false;
  multicam = false;
  merged = false;
  constructor(
    name: string,
    readonly media: MediaFile | undefined,
    readonly nestedSequence: FakeSequence | undefined = undefined,
    private readonly host: Host | undefined = undefined,
  ) {
    super(name, ITEM_TYPES.CLIP);
  }
  async getMediaFilePath(): Promise<string> {
    this.host?.count('ClipProjectItem.getMediaFilePath');
    return this.media?.path ?? '';
  }
  async isSequence(): Promise<boolean> {
    return this.nestedSequence !== undefined;
  }
  async getContentType(): Promise<string> {
    return this.nestedSequence ? Constants.ContentType.SEQUENCE : Constants.ContentType.MEDIA;
  }
  async isOffline(): Promise<boolean> {
    return this.offline;
  }
  async isMulticamClip(): Promise<boolean> {
    return this.multicam;
  }
  async isMergedClip(): Promise<boolean> {
    return this.merged;
  }
  async getFootageInterpretation(): Promise<{ getFrameRate(): number }> {
    const fps = this.media?.kind === 'video' ? this.media.fps : 0;
    return { getFrameRate: () => fps };
  }
}

export class FakeFolderItem extends FakeProjectItem {
  items: FakeProjectItem[] = [];
  constructor(
    name: string,
    type: number,
    private readonly host: Host,
  ) {
    super(name, type);
  }
  async getItems(): Promise<FakeProjectItem[]> {
    return [...this.items];
  }
  add(item: FakeProjectItem): void {
    item.parent = this;
    this.items.push(item);
  }
  createBinAction(name: string, makeUnique: boolean): FakeAction {
    this.host.requireLock('FolderItem.createBinAction');
    return this.host.action(`create bin ${name}`, () => {
      let finalName = name;
      if (this.items.some((i) => i.name === name)) {
        if (!makeUnique) throw new Error(`a bin named "${name}" exists`);
        finalName = `${name} 1`;
      }
      this.add(new FakeFolderItem(finalName, ITEM_TYPES.BIN, this.host));
    });
  }
}

export class FakeTrackItem {
  speed = 1;
  reversed: boolean | number = false;
  selected = false;
  disabled = false;
  adjustment = false;
  constructor(
    readonly kind: 'video' | 'audio',
    readonly projectItem: FakeClipProjectItem,
    public start: bigint,
    public end: bigint,
    public inPoint: bigint,
    public outPoint: bigint,
    public track: FakeTrack,
    private readonly host: Host,
  ) {}
  async getName(): Promise<string> {
    return this.projectItem.name;
  }
  async getIsSelected(): Promise<boolean> {
    this.host.count('TrackItem.getIsSelected');
    return this.selected;
  }
  /** An opaque Guid (a new object each call, like the host's): compare with toString(). */
  async getMediaType(): Promise<FakeGuid> {
    this.host.count('TrackItem.getMediaType');
    return new FakeGuid(this.host.mediaTypeGuids[this.kind]);
  }
  async getSpeed(): Promise<number> {
    return this.speed;
  }
  async isSpeedReversed(): Promise<number> {
    return this.reversed ? 1 : 0;
  }
  async isAdjustmentLayer(): Promise<boolean> {
    return this.adjustment;
  }
  async isDisabled(): Promise<boolean> {
    return this.disabled;
  }
  async getInPoint(): Promise<FakeTickTime> {
    return new FakeTickTime(this.inPoint);
  }
  async getOutPoint(): Promise<FakeTickTime> {
    return new FakeTickTime(this.outPoint);
  }
  async getStartTime(): Promise<FakeTickTime> {
    return new FakeTickTime(this.start);
  }
  async getEndTime(): Promise<FakeTickTime> {
    return new FakeTickTime(this.end);
  }
  async getDuration(): Promise<FakeTickTime> {
    return new FakeTickTime(this.end - this.start);
  }
  async getTrackIndex(): Promise<number> {
    this.host.count('TrackItem.getTrackIndex');
    return this.track.index;
  }
  async getProjectItem(): Promise<FakeProjectItem> {
    return this.projectItem;
  }
  createSetDisabledAction(disabled: boolean): FakeAction {
    this.host.requireLock('VideoClipTrackItem.createSetDisabledAction');
    return this.host.action('set disabled', () => {
      this.disabled = disabled;
    });
  }
}

export class FakeTrack {
  items: FakeTrackItem[] = [];
  constructor(
    readonly kind: 'video' | 'audio',
    private readonly sequence: FakeSequence,
  ) {}
  get index(): number {
    return (this.kind === 'video' ? this.sequence.videoTracks : this.sequence.audioTracks).indexOf(this);
  }
  get name(): string {
    return `${this.kind === 'video' ? 'V' : 'A'}${this.index + 1}`;
  }
  getTrackItems(type: string, includeEmpty: boolean): FakeTrackItem[] {
    if (typeof includeEmpty !== 'boolean') throw new TypeError('Illegal Parameter type: includeEmptyTrackItems');
    if (type !== Constants.TrackItemType.CLIP) return [];
    return [...this.items].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }
  async getIndex(): Promise<number> {
    return this.index;
  }
}

/** Premiere's media-type Guids are undocumented; these stand in for them. */
const MEDIA_TYPE_GUIDS = { video: '228cda18-3625-4d2d-951e-348879e4ed93', audio: '80b8e3d5-6dca-4195-aefb-cb5f407ab009' };

class FakeGuid {
  constructor(private readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export class FakeSequence {
  readonly guid: FakeGuid;
  videoTracks: FakeTrack[] = [];
  audioTracks: FakeTrack[] = [];
  constructor(
    readonly name: string,
    /** Ticks per frame. */
    readonly timebase: bigint,
    videoTracks: number,
    audioTracks: number,
    private readonly host: Host,
  ) {
    this.guid = new FakeGuid(`seq-${nextId++}`);
    for (let i = 0; i < videoTracks; i++) this.videoTracks.push(new FakeTrack('video', this));
    for (let i = 0; i < audioTracks; i++) this.audioTracks.push(new FakeTrack('audio', this));
  }
  allItems(): FakeTrackItem[] {
    return [...this.videoTracks, ...this.audioTracks].flatMap((t) => t.items);
  }
  async getSelection(): Promise<FakeSelection> {
    return new FakeSelection(this.allItems().filter((i) => i.selected));
  }
  async clearSelection(): Promise<boolean> {
    for (const item of this.allItems()) item.selected = false;
    return true;
  }
  setSelection(selection: FakeSelection): boolean {
    for (const item of this.allItems()) item.selected = selection.items.includes(item);
    return true;
  }
  async getVideoTrackCount(): Promise<number> {
    return this.videoTracks.length;
  }
  async getAudioTrackCount(): Promise<number> {
    return this.audioTracks.length;
  }
  async getVideoTrack(index: number): Promise<FakeTrack> {
    const track = this.videoTracks[index];
    if (!track) throw new Error(`Illegal Parameter: video track ${index} does not exist`);
    return track;
  }
  async getAudioTrack(index: number): Promise<FakeTrack> {
    const track = this.audioTracks[index];
    if (!track) throw new Error(`Illegal Parameter: audio track ${index} does not exist`);
    return track;
  }
  async getTimebase(): Promise<string> {
    return this.timebase.toString();
  }
  async getSettings(): Promise<{ getVideoFrameRate(): FakeFrameRate }> {
    return { getVideoFrameRate: () => new FakeFrameRate(Number(this.timebase)) };
  }
  async getEndTime(): Promise<FakeTickTime> {
    return new FakeTickTime(this.allItems().reduce((m, i) => (i.end > m ? i.end : m), 0n));
  }
}

export class FakeSelection {
  constructor(readonly items: FakeTrackItem[]) {}
  async getTrackItems(): Promise<FakeTrackItem[]> {
    return [...this.items];
  }
  addItem(item: FakeTrackItem): boolean {
    if (!this.items.includes(item)) this.items.push(item);
    return true;
  }
  removeItem(item: FakeTrackItem): boolean {
    const i = this.items.indexOf(item);
    if (i >= 0) this.items.splice(i, 1);
    return i >= 0;
  }
}

export class FakeAction {
  constructor(
    readonly label: string,
    readonly scope: number,
    readonly apply: () => void,
  ) {}
}

class FakeCompound {
  readonly actions: FakeAction[] = [];
  open = true;
  constructor(private readonly host: Host) {}
  get empty(): boolean {
    return this.actions.length === 0;
  }
  addAction(action: FakeAction): boolean {
    if (!this.open) throw new RuleViolation('compoundAction.addAction called after its executeTransaction returned');
    if (!(action instanceof FakeAction)) throw new TypeError('Illegal Parameter type: addAction needs an Action');
    if (action.scope !== this.host.scope) {
      throw new RuleViolation(`action "${action.label}" escaped the lockedAccess scope it was created in`);
    }
    this.actions.push(action);
    return true;
  }
}

/** Clears [from, to) on a track: items inside go, items across an edge are trimmed or split. */
function clearRange(track: FakeTrack, host: Host, from: bigint, to: bigint): void {
  const kept: FakeTrackItem[] = [];
  for (const item of track.items) {
    if (item.end <= from || item.start >= to) {
      kept.push(item);
      continue;
    }
    if (item.start < from) {
      const left = new FakeTrackItem(item.kind, item.projectItem, item.start, from, item.inPoint, item.inPoint + (from - item.start), track, host);
      kept.push(left);
    }
    if (item.end > to) {
      const right = new FakeTrackItem(item.kind, item.projectItem, to, item.end, item.inPoint + (to - item.start), item.outPoint, track, host);
      kept.push(right);
    }
  }
  track.items = kept;
}

export class FakeSequenceEditor {
  constructor(
    private readonly sequence: FakeSequence,
    private readonly host: Host,
  ) {}

  private mediaOf(projectItem: unknown): MediaFile {
    if (!(projectItem instanceof FakeClipProjectItem) || !projectItem.media) {
      throw new TypeError('Illegal Parameter type: projectItem must be a clip project item with media');
    }
    return projectItem.media;
  }

  createOverwriteItemAction(projectItem: FakeProjectItem, time: FakeTickTime, videoTrackIndex: number, audioTrackIndex: number): FakeAction {
    this.host.requireLock('SequenceEditor.createOverwriteItemAction');
    const media = this.mediaOf(projectItem);
    const at = asTick(time).big;
    if (!Number.isInteger(videoTrackIndex) || videoTrackIndex < 0 || videoTrackIndex >= this.sequence.videoTracks.length) {
      // Undocumented on the host (CEP silently placed nothing): the fake refuses it outright.
      throw new RuleViolation(`createOverwriteItemAction: video track ${videoTrackIndex} does not exist (use insert to add a track)`);
    }
    if (media.hasAudio && (audioTrackIndex < 0 || audioTrackIndex >= this.sequence.audioTracks.length)) {
      throw new RuleViolation(`createOverwriteItemAction: audio track ${audioTrackIndex} does not exist`);
    }
    return this.host.action('overwrite', () => {
      this.place(projectItem as FakeClipProjectItem, media, at, this.sequence.videoTracks[videoTrackIndex], 'video');
      if (media.hasAudio) this.place(projectItem as FakeClipProjectItem, media, at, this.sequence.audioTracks[audioTrackIndex], 'audio');
    });
  }

  createInsertProjectItemAction(
    projectItem: FakeProjectItem,
    time: FakeTickTime,
    videoTrackIndex: number,
    audioTrackIndex: number,
    limitShift: boolean,
  ): FakeAction {
    this.host.requireLock('SequenceEditor.createInsertProjectItemAction');
    const media = this.mediaOf(projectItem);
    const at = asTick(time).big;
    if (typeof limitShift !== 'boolean') throw new TypeError('Illegal Parameter type: limitShift');
    if (!Number.isInteger(videoTrackIndex) || videoTrackIndex < 0) throw new RuleViolation(`insert: bad video track ${videoTrackIndex}`);
    return this.host.action('insert', () => {
      const video = this.trackForInsert('video', videoTrackIndex);
      const shifted = limitShift ? [video] : this.sequence.videoTracks;
      for (const track of shifted) this.shiftFrom(track, at, media.durationTicks);
      this.place(projectItem as FakeClipProjectItem, media, at, video, 'video');
      if (media.hasAudio) {
        const audio = this.trackForInsert('audio', audioTrackIndex);
        this.shiftFrom(audio, at, media.durationTicks);
        this.place(projectItem as FakeClipProjectItem, media, at, audio, 'audio');
      }
    });
  }

  /** Documented: an index past the last track creates a new track (appended on top). */
  private trackForInsert(kind: 'video' | 'audio', index: number): FakeTrack {
    const tracks = kind === 'video' ? this.sequence.videoTracks : this.sequence.audioTracks;
    if (index >= tracks.length) {
      const track = new FakeTrack(kind, this.sequence);
      tracks.push(track);
      return track;
    }
    return tracks[index];
  }

  private shiftFrom(track: FakeTrack, at: bigint, by: bigint): void {
    const moved: FakeTrackItem[] = [];
    for (const item of track.items) {
      if (item.end <= at) moved.push(item);
      else if (item.start >= at) {
        item.start += by;
        item.end += by;
        moved.push(item);
      } else {
        moved.push(new FakeTrackItem(item.kind, item.projectItem, item.start, at, item.inPoint, item.inPoint + (at - item.start), track, this.host));
        moved.push(new FakeTrackItem(item.kind, item.projectItem, at + by, item.end + by, item.inPoint + (at - item.start), item.outPoint, track, this.host));
      }
    }
    track.items = moved;
  }

  private place(projectItem: FakeClipProjectItem, media: MediaFile, at: bigint, track: FakeTrack, kind: 'video' | 'audio'): void {
    const end = at + media.durationTicks;
    clearRange(track, this.host, at, end);
    track.items.push(new FakeTrackItem(kind, projectItem, at, end, 0n, media.durationTicks, track, this.host));
  }
}

interface UndoEntry {
  label: string;
  restore: () => void;
}

class Host {
  /** The Guids track items report by kind (tests may make them equal). */
  mediaTypeGuids = { ...MEDIA_TYPE_GUIDS };
  /** Host round trips by method name, for tests that bound how many calls a read makes. */
  readonly calls = new Map<string, number>();
  lockDepth = 0;
  transaction: FakeCompound | undefined;
  /** Lock scope generation: actions are valid only in the scope that made them. */
  scope = 0;
  readonly undoStack: UndoEntry[] = [];

  count(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  requireLock(what: string): void {
    if (this.lockDepth === 0 && !this.transaction) {
      throw new RuleViolation(`${what} must be called inside project.lockedAccess() or an executeTransaction callback (Premiere 26.3)`);
    }
  }

  action(label: string, apply: () => void): FakeAction {
    return new FakeAction(label, this.scope, apply);
  }

  endScope(): void {
    if (this.lockDepth === 0 && !this.transaction) this.scope++;
  }
}

// ---------------------------------------------------------------------------------------------
// World

export class FakeProject {
  readonly guid = new FakeGuid(`project-${nextId++}`);
  readonly root: FakeFolderItem;
  sequences: FakeSequence[] = [];
  activeSequence: FakeSequence | undefined;
  /** Paths given to importFiles, in order. */
  readonly imports: string[][] = [];

  constructor(
    readonly name: string,
    private readonly world: FakePremiere,
  ) {
    this.root = new FakeFolderItem('root', ITEM_TYPES.ROOT, world.host);
  }

  get path(): string {
    return `/projects/${this.name}.prproj`;
  }

  async getActiveSequence(): Promise<FakeSequence | undefined> {
    return this.activeSequence;
  }
  async getSequences(): Promise<FakeSequence[]> {
    return [...this.sequences];
  }
  async getRootItem(): Promise<FakeFolderItem> {
    return this.root;
  }

  async importFiles(paths: string[], suppressUI?: boolean, targetBin?: FakeProjectItem | null, asNumberedStills?: boolean): Promise<boolean> {
    if (targetBin === undefined) throw new TypeError('Illegal Parameter type'); // AdobeDocs/uxp-premiere-pro-samples#75
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) throw new TypeError('Illegal Parameter type: filePaths');
    void suppressUI;
    void asNumberedStills;
    const bin = targetBin === null ? this.root : targetBin;
    if (!(bin instanceof FakeFolderItem)) throw new TypeError('Illegal Parameter type: targetBin must be a bin');
    this.imports.push([...paths]);
    const files = paths.map((p) => this.world.media(p));
    if (files.some((f) => f === undefined)) return false;
    const add = () => {
      for (const file of files as MediaFile[]) bin.add(new FakeClipProjectItem(basename(file.path), file, undefined, this.world.host));
      if (this.world.importEvents) this.world.emit(Constants.OperationCompleteEvent.IMPORT_MEDIA_COMPLETE, { state: OPERATION_STATE.SUCCESS });
    };
    if (this.world.importLatencyMs > 0) setTimeout(add, this.world.importLatencyMs);
    else add();
    return true;
  }

  lockedAccess(callback: () => void): void {
    const host = this.world.host;
    host.lockDepth++;
    try {
      const result: unknown = callback();
      if (isThenable(result)) throw new RuleViolation('lockedAccess callback must be synchronous (it returned a Promise)');
    } finally {
      host.lockDepth--;
      host.endScope();
    }
  }

  executeTransaction(callback: (compound: FakeCompound) => void, undoString?: string): boolean {
    const host = this.world.host;
    if (host.lockDepth === 0) throw new RuleViolation('executeTransaction must run inside project.lockedAccess()');
    if (host.transaction) throw new RuleViolation('executeTransaction cannot be nested');
    if (typeof undoString !== 'string' || undoString.trim() === '') throw new RuleViolation('executeTransaction needs an undo label');
    const compound = new FakeCompound(host);
    host.transaction = compound;
    try {
      const result: unknown = callback(compound);
      if (isThenable(result)) throw new RuleViolation('executeTransaction callback must be synchronous (it returned a Promise)');
    } finally {
      compound.open = false;
      host.transaction = undefined;
    }
    if (compound.empty) return true;
    const restore = this.world.snapshot();
    try {
      for (const action of compound.actions) action.apply();
    } catch {
      restore();
      return false;
    }
    host.undoStack.push({ label: undoString, restore });
    return true;
  }
}

function basename(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

export interface TrackItemSpec {
  track: number;
  item: FakeClipProjectItem;
  /** Sequence frame where the clip starts. */
  startFrame: number;
  /** Media frame of the clip's in point (default 0). */
  inFrame?: number;
  /** Length in media frames (default: to the end of the media). */
  frames?: number;
  /** Also lay the linked audio on this audio track. */
  audioTrack?: number;
}

export interface TimelineEntry {
  name: string;
  path: string;
  start: string;
  end: string;
}

/** The test's handle: the `premierepro` module object plus controls to build and inspect the world. */
export class FakePremiere {
  readonly host = new Host();
  readonly project: FakeProject;
  activeProject: FakeProject | undefined;
  /** Items appear in the bin this long after importFiles resolves (0 = before it resolves). */
  importLatencyMs = 0;
  /** Whether an import that lands emits OperationCompleteEvent.IMPORT_MEDIA_COMPLETE (its payload: { state }). */
  importEvents = true;
  /** Media for paths not registered with addMedia (e.g. renders the daemon wrote). */
  resolveMedia: ((path: string) => MediaSpec | undefined) | undefined;
  private readonly files = new Map<string, MediaFile>();
  private readonly listeners = new Map<string, Set<(event?: object) => void>>();
  readonly ppro: Record<string, unknown>;

  constructor() {
    this.project = new FakeProject('Untitled', this);
    this.activeProject = this.project;
    const world = this;
    this.ppro = {
      Constants,
      OperationCompleteEvent: {
        OPERATION_STATE_SUCCESS: OPERATION_STATE.SUCCESS,
        OPERATION_STATE_CANCELLED: OPERATION_STATE.CANCELLED,
        OPERATION_STATE_FAILED: OPERATION_STATE.FAILED,
        EVENT_IMPORT_MEDIA_COMPLETE: Constants.OperationCompleteEvent.IMPORT_MEDIA_COMPLETE,
      },
      TickTime: TickTimeStatic,
      FrameRate: { createWithValue: (v: number) => new FakeFrameRate(Math.round(Number(TPS) / v)) },
      Project: { getActiveProject: async () => world.activeProject },
      ProjectItem: {
        cast: (item: FakeProjectItem) => item,
        TYPE_CLIP: ITEM_TYPES.CLIP,
        TYPE_BIN: ITEM_TYPES.BIN,
        TYPE_ROOT: ITEM_TYPES.ROOT,
        TYPE_FILE: ITEM_TYPES.FILE,
      },
      ClipProjectItem: { cast: (item: FakeProjectItem) => (item instanceof FakeClipProjectItem ? item : undefined) },
      FolderItem: { cast: (item: FakeProjectItem) => (item instanceof FakeFolderItem ? item : undefined) },
      SequenceEditor: {
        getEditor: (sequence: FakeSequence) => {
          if (!(sequence instanceof FakeSequence)) throw new TypeError('Illegal Parameter type: sequence');
          return new FakeSequenceEditor(sequence, world.host);
        },
      },
      EventManager: {
        addGlobalEventListener: (name: string, handler: (event?: object) => void) => {
          if (!this.listeners.has(name)) this.listeners.set(name, new Set());
          this.listeners.get(name)!.add(handler);
        },
        removeGlobalEventListener: (name: string, handler: (event?: object) => void) => {
          this.listeners.get(name)?.delete(handler);
        },
      },
    };
  }

  get constants(): typeof Constants {
    return Constants;
  }

  /** How often the panel called a host method (see Host.count). */
  callCount(method: string): number {
    return this.host.calls.get(method) ?? 0;
  }

  listenerCount(event: string): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  emit(event: string, payload: object = {}): void {
    for (const handler of [...(this.listeners.get(event) ?? [])]) handler({ type: event, ...payload });
  }

  addMedia(spec: MediaSpec): MediaFile {
    const file = toMediaFile(spec);
    this.files.set(spec.path, file);
    return file;
  }

  media(path: string): MediaFile | undefined {
    const known = this.files.get(path);
    if (known) return known;
    const spec = this.resolveMedia?.(path);
    return spec ? this.addMedia({ ...spec, path }) : undefined;
  }

  /** A clip project item for a registered media file, in the root bin (like a user's import). */
  addClip(path: string): FakeClipProjectItem {
    const file = this.media(path);
    if (!file) throw new Error(`fake: no media registered at ${path}`);
    const clip = new FakeClipProjectItem(basename(path), file, undefined, this.host);
    this.project.root.add(clip);
    return clip;
  }

  addNestedSequenceClip(sequence: FakeSequence): FakeClipProjectItem {
    const clip = new FakeClipProjectItem(sequence.name, undefined, sequence, this.host);
    this.project.root.add(clip);
    return clip;
  }

  addSequence(name: string, ticksPerFrame: bigint, videoTracks = 3, audioTracks = 2): FakeSequence {
    const sequence = new FakeSequence(name, ticksPerFrame, videoTracks, audioTracks, this.host);
    this.project.sequences.push(sequence);
    this.project.activeSequence ??= sequence;
    return sequence;
  }

  addTrackItem(sequence: FakeSequence, spec: TrackItemSpec): FakeTrackItem {
    const media = spec.item.media;
    const mediaTpf = media?.ticksPerFrame ?? sequence.timebase;
    const inPoint = BigInt(spec.inFrame ?? 0) * mediaTpf;
    const length = spec.frames !== undefined ? BigInt(spec.frames) * mediaTpf : (media?.durationTicks ?? sequence.timebase * 100n) - inPoint;
    const start = BigInt(spec.startFrame) * sequence.timebase;
    const track = sequence.videoTracks[spec.track];
    const item = new FakeTrackItem('video', spec.item, start, start + length, inPoint, inPoint + length, track, this.host);
    clearRange(track, this.host, item.start, item.end);
    track.items.push(item);
    if (spec.audioTrack !== undefined) {
      const audioTrack = sequence.audioTracks[spec.audioTrack];
      audioTrack.items.push(new FakeTrackItem('audio', spec.item, start, start + length, inPoint, inPoint + length, audioTrack, this.host));
    }
    return item;
  }

  /** Selects exactly these items (and emits SELECTION_CHANGED). */
  select(sequence: FakeSequence, ...items: FakeTrackItem[]): void {
    for (const item of sequence.allItems()) item.selected = items.includes(item);
    this.emit(Constants.SequenceEvent.SELECTION_CHANGED);
  }

  /** Selects a clip and the audio items laid with it (a linked selection). */
  selectLinked(sequence: FakeSequence, item: FakeTrackItem): void {
    const linked = sequence.audioTracks.flatMap((t) => t.items).filter((a) => a.projectItem === item.projectItem && a.start === item.start);
    this.select(sequence, item, ...linked);
  }

  undoLabels(): string[] {
    return this.host.undoStack.map((e) => e.label);
  }

  undo(): string {
    const entry = this.host.undoStack.pop();
    if (!entry) throw new Error('fake: nothing to undo');
    entry.restore();
    return entry.label;
  }

  /** Captures every sequence's tracks and every bin's items; the function puts them back. */
  snapshot(): () => void {
    const tracks = this.project.sequences.map((s) => ({
      sequence: s,
      video: s.videoTracks.map((t) => ({ track: t, items: t.items.map((i) => ({ item: i, start: i.start, end: i.end, inPoint: i.inPoint, outPoint: i.outPoint, disabled: i.disabled })) })),
      audio: s.audioTracks.map((t) => ({ track: t, items: t.items.map((i) => ({ item: i, start: i.start, end: i.end, inPoint: i.inPoint, outPoint: i.outPoint, disabled: i.disabled })) })),
    }));
    const bins: { bin: FakeFolderItem; items: FakeProjectItem[] }[] = [];
    const walk = (bin: FakeFolderItem) => {
      bins.push({ bin, items: [...bin.items] });
      for (const child of bin.items) if (child instanceof FakeFolderItem) walk(child);
    };
    walk(this.project.root);
    return () => {
      for (const s of tracks) {
        s.sequence.videoTracks = s.video.map((v) => v.track);
        s.sequence.audioTracks = s.audio.map((a) => a.track);
        for (const group of [...s.video, ...s.audio]) {
          group.track.items = group.items.map((saved) => {
            Object.assign(saved.item, { start: saved.start, end: saved.end, inPoint: saved.inPoint, outPoint: saved.outPoint, disabled: saved.disabled });
            return saved.item;
          });
        }
      }
      for (const b of bins) b.bin.items = b.items;
    };
  }

  /** Each video track's clips, in time order, for assertions. */
  timeline(sequence: FakeSequence): TimelineEntry[][] {
    return sequence.videoTracks.map((track) =>
      track.getTrackItems(Constants.TrackItemType.CLIP, false).map((i) => ({
        name: i.projectItem.name,
        path: i.projectItem.media?.path ?? '',
        start: i.start.toString(),
        end: i.end.toString(),
      })),
    );
  }

  bin(name: string): FakeFolderItem | undefined {
    return this.project.root.items.find((i): i is FakeFolderItem => i instanceof FakeFolderItem && i.name === name);
  }
}

function toMediaFile(spec: MediaSpec): MediaFile {
  const kind = spec.kind ?? 'video';
  const fps = spec.fps ?? 24;
  const ticksPerFrame = spec.ticksPerFrame ?? BigInt(Math.round(Number(TPS) / fps));
  const frames = spec.frames ?? 240;
  return { path: spec.path, kind, fps: kind === 'video' ? fps : 0, ticksPerFrame, durationTicks: BigInt(frames) * ticksPerFrame, hasAudio: spec.hasAudio ?? false };
}

export function createFakePremiere(): FakePremiere {
  return new FakePremiere();
}
