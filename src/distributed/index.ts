// Data-parallel training over Gloo: the torchrun environment, the communicator, the addon loader.
export * from './env.ts';
export * from './data-parallel.ts';
export { loadGloo } from './native.ts';
