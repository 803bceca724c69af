// The etcd harness lives in lab/ so that bench/ can use it without importing test/.
export * from '../../lab/etcd.ts';
