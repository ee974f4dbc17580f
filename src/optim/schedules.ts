// Learning-rate schedules as pure functions step → lr, matching transformers' get_*_schedule_with_warmup
// (the lr used by update k, counting from 0). Warmup is linear from 0.

import { ConfigError } from '../errors.ts';

export type ScheduleName = 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';
export const SCHEDULES: readonly ScheduleName[] = ['linear', 'cosine', 'constant', 'constant_with_warmup'];

export interface ScheduleOptions {
  name: ScheduleName;
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** The learning rate for update `step` (0-based). */
export function learningRate(step: number, o: ScheduleOptions): number {
  const { baseLr, warmupSteps, totalSteps } = o;
  if (o.name === 'constant') return baseLr;
  if (step < warmupSteps) return (baseLr * step) / Math.max(1, warmupSteps);
  switch (o.name) {
    case 'constant_with_warmup':
      return baseLr;
    case 'linear':
      return baseLr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
    case 'cosine': {
      const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
      return baseLr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
    default:
      throw new ConfigError('lr_scheduler_type', `unknown schedule "${String(o.name)}"; use one of ${SCHEDULES.join(', ')}`);
  }
}

/** Warmup steps from transformers' two settings: warmup_steps wins when > 0, else ceil(ratio × total). */
export function warmupStepsFor(totalSteps: number, warmupSteps: number, warmupRatio: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(warmupRatio * totalSteps);
}
