// The tensors a sampler program keeps across yields. Each turn of a program runs in a scope that frees what
// it made, so a variable of the algorithm that outlives a turn (x_i, d_i) lives in a slot: assigning a slot
// frees its previous tensor, and the driver frees every slot when the program ends, fails or is cancelled.
import { keep, unkeep, type Tensor } from '../tensor';

/** One variable of the algorithm: `x.set(next)` frees the old value, `x.value` reads it. */
export class Slot<T extends Tensor = Tensor> {
  private current?: T;

  get value(): T {
    if (!this.current) throw new Error('sampler slot read before it was set');
    return this.current;
  }
  /** Holds next and frees the tensor held before (unless it is next). Returns next. */
  set(next: T): T {
    const old = this.current;
    this.current = keep(next);
    if (old && old !== next) old.dispose();
    return next;
  }
  /** Hands the value to the caller (the program's result): the slot no longer frees it, the caller's scope does. */
  release(): T {
    const t = unkeep(this.value);
    this.current = undefined;
    return t;
  }
  /** Frees the value, if any. */
  clear(): void {
    this.current?.dispose();
    this.current = undefined;
  }
}

/** A program's slots, all freed by disposeAll. */
export class Held {
  private readonly slots: Slot[] = [];

  /** A new slot, holding `initial` when given. Make slots before the loop: each lives until the program ends. */
  slot<T extends Tensor>(initial?: T): Slot<T> {
    const s = new Slot<T>();
    if (initial) s.set(initial);
    this.slots.push(s as Slot);
    return s;
  }
  disposeAll(): void {
    for (const s of this.slots) s.clear();
  }
}
