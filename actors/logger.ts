export { silentLogger, type Logger } from '../adapters/logger.ts';
