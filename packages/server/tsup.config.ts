import { libraryBuild } from '../../tsup.shared.ts';

// The library only; the gardend executable is @garden-ts/gardend.
export default libraryBuild();
