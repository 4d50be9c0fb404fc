// A pull's progress: byte counts of the files being downloaded, reported at most every
// `intervalMs` (a file's start and end always), with the transfer rate of the last few seconds.

export interface PullProgress {
  /** The repo path of the file being downloaded. */
  file: string;
  /** 1-based index among the files that need downloading, and their count. */
  fileIndex: number;
  fileCount: number;
  fileBytes: number;
  fileTotal: number;
  /** Over all files to download (bytes already on disk from an earlier attempt count as done). */
  bytesDone: number;
  bytesTotal: number;
  /** Transfer rate over the last few seconds; 0 until measured. */
  bytesPerSecond: number;
  /** Seconds left at that rate, or null while the rate is unknown. */
  etaSeconds: number | null;
}

/** A file being downloaded: its repo path and size. */
interface MeteredFile {
  path: string;
  size: number;
}

/** Aggregates byte counts into throttled PullProgress reports with a windowed rate. */
export class ProgressMeter {
  private fileCount = 0;
  private bytesTotal = 0;
  private bytesDone = 0;
  private file?: MeteredFile;
  private fileIndex = 0;
  private fileBytes = 0;
  private lastEmit = 0;
  /** (time ms, cumulative transferred bytes) samples of the last few seconds. */
  private samples: Array<[number, number]> = [];
  private transferred = 0;

  constructor(private readonly onProgress: ((p: PullProgress) => void) | undefined, private readonly intervalMs: number) {}

  /** Adds files about to be downloaded to the totals. */
  plan(files: MeteredFile[]): void {
    this.fileCount += files.length;
    this.bytesTotal += files.reduce((a, f) => a + f.size, 0);
  }

  startFile(f: MeteredFile): void {
    this.file = f;
    this.fileIndex++;
    this.fileBytes = 0;
    this.emit(true);
  }

  add(n: number, resumed: boolean): void {
    this.bytesDone += n;
    this.fileBytes += n;
    if (!resumed) {
      this.transferred += n;
      const now = Date.now();
      this.samples.push([now, this.transferred]);
      while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
    }
    this.emit(false);
  }

  endFile(): void {
    this.emit(true);
  }

  private rate(): number {
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0]!;
    const [t1, b1] = this.samples[this.samples.length - 1]!;
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }

  private emit(force: boolean): void {
    if (!this.onProgress || !this.file) return;
    const now = Date.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    const rate = this.rate();
    this.onProgress({
      file: this.file.path,
      fileIndex: this.fileIndex,
      fileCount: this.fileCount,
      fileBytes: this.fileBytes,
      fileTotal: this.file.size,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      bytesPerSecond: rate,
      etaSeconds: rate > 0 ? (this.bytesTotal - this.bytesDone) / rate : null,
    });
  }
}
