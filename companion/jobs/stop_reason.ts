// Why a running job's signal fired: the user canceled it, the daemon is stopping (the job is
// paused, not ended), or its changes could not be recorded (full disk). Executors read it to
// tell a cancel from a shutdown (the studio farm leaves a job in its queue on shutdown).
export class StopReason extends Error {
  constructor(
    readonly kind: 'cancel' | 'shutdown' | 'storage',
    message: string,
  ) {
    super(message);
  }
}
