// The shared byte pattern lives with the rxkcp command that uses it; kcppeer implements the same.
export * from '../../operators/testing/pattern.js';
