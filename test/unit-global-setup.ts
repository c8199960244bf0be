import { checkPrerequisites } from './prerequisites';

/** The unit project's engine and Redis specs start their own redis-server. */
export default function checkUnitPrerequisites(): void {
  checkPrerequisites('unit');
}
