/** Event the frame parser emits for frames it refuses; the gateway answers it with an `error`. Never on the wire. */
export const INVALID_FRAME_EVENT = '$invalid';
