/** Key-value storage for the scanner's libraries: wx storage on the phone, a Map in tests (utils/scan-storage.ts). */
export { type KeyValue, memoryStorage, wxStorage } from '../../utils/scan-storage';
