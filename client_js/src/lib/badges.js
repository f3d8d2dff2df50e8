// Unread counts shown on the navigation (the notifications and direct screens own
// keeping them right; the shell only displays them).
import { Observable } from './conn.js';

/** Unread notifications (a Number). */
export const unreadNotifications = new Observable(0);
/** Unread direct-message conversations (a Number). */
export const unreadDirect = new Observable(0);
