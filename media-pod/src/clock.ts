/**
 * The media pod's clock: the shared Clock (operator/src/clock.ts) whose system timers do not
 * keep the process alive, since every call, nonce and transaction timer is owned by something
 * that is stopped explicitly.
 */
import { SystemClock, type Clock } from '@sipflow/operator/clock';

export { FakeClock, sleep, type Clock, type TimerHandle } from '@sipflow/operator/clock';
export const systemClock: Clock = new SystemClock({ unref: true });
