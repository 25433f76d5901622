// Electron main-process entry (dist/electron/main/main.js).
import { startWorkbench } from './app';

startWorkbench(__dirname);
