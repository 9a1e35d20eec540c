import { libraryBuild } from '../../tsup.shared.ts';

// shims: the CJS build needs import.meta.url to locate build/Release.
export default libraryBuild({ shims: true });
