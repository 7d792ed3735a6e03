// rxkcp: the RxJS operators, session assembly, and the core types they use.
export * from '../src/index.js';
