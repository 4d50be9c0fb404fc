// The job service's events: listeners, and the outbox that sends each event only once the
// commit it announces is durable, in the order they were announced.
import type { EventOf, LogLevel, ServerEvent, ServerEventType } from '../../shared/events.ts';
import type { Unsubscribe } from './api.ts';

export class EventOutbox {
  private readonly listeners = new Set<(event: ServerEvent) => void>();
  /** Events wait here for the commits they announce, so they go out in order. */
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(private readonly logSink: (level: LogLevel, message: string) => void) {}

  on<T extends ServerEventType>(type: T, listener: (event: EventOf<T>) => void): Unsubscribe {
    return this.onEvent((event) => {
      if (event.type === type) listener(event as EventOf<T>);
    });
  }

  onEvent(listener: (event: ServerEvent) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Sends an event once `after` (the commit it announces) is durable, and after every event
   * announced before it; an event whose commit failed is not sent.
   */
  announce(event: ServerEvent, after?: Promise<void>): void {
    if (after === undefined && this.pending === 0) {
      this.emit(event);
      return;
    }
    this.pending++;
    this.chain = this.chain
      .then(() => after)
      .then(
        () => this.emit(event),
        () => {},
      )
      .finally(() => {
        this.pending--;
      });
  }

  /** Resolves once every event announced so far is sent or dropped (its commit settled). */
  settled(): Promise<void> {
    return this.chain;
  }

  clear(): void {
    this.listeners.clear();
  }

  private emit(event: ServerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logSink('error', `event listener failed on ${event.type}: ${err instanceof Error ? err.message : err}`);
      }
    }
  }
}
