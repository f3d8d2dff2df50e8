// The route table: path pattern → screen component. One screen per file in screens/.
// `auth: true` screens need a session (logged-out visitors go to /login?next=...);
// `guest: true` screens are for logged-out visitors (signed-in ones go home).
// `title` is the document title (a string, or a function of the params); `label` is read by screen readers on navigation.
import AccountLists from './screens/blocked.jsx';
import Compose from './screens/compose.jsx';
import Conversation from './screens/conversation.jsx';
import Direct from './screens/direct.jsx';
import Explore from './screens/explore.jsx';
import Home from './screens/home.jsx';
import Login from './screens/login.jsx';
import NotFound from './screens/notfound.jsx';
import Notifications from './screens/notifications.jsx';
import Post from './screens/post.jsx';
import Profile from './screens/profile.jsx';
import Search from './screens/search.jsx';
import Settings from './screens/settings.jsx';
import Signup from './screens/signup.jsx';
import Tag from './screens/tag.jsx';

export const routes = [
  { path: '/', screen: Home, auth: true, title: 'Home' },
  { path: '/login', screen: Login, guest: true, title: 'Log in' },
  { path: '/signup', screen: Signup, guest: true, title: 'Sign up' },
  { path: '/explore', screen: Explore, auth: true, title: 'Explore' },
  { path: '/search', screen: Search, auth: true, title: 'Search' },
  { path: '/t/:tag', screen: Tag, auth: true, title: (p) => `#${p.tag}` },
  { path: '/p/:id', screen: Post, auth: true, title: 'Post' },
  { path: '/u/:username', screen: Profile, auth: true, title: (p) => `@${p.username}` },
  { path: '/notifications', screen: Notifications, auth: true, title: 'Notifications' },
  { path: '/direct', screen: Direct, auth: true, title: 'Direct' },
  { path: '/direct/:id', screen: Conversation, auth: true, title: 'Conversation' },
  { path: '/new', screen: Compose, auth: true, title: 'New post' },
  { path: '/settings', screen: Settings, auth: true, title: 'Edit profile' },
  { path: '/settings/:list', screen: AccountLists, auth: true,
    title: (p) => ({ blocked: 'Blocked accounts', muted: 'Muted accounts' })[p.list] || 'Not found' },
  { path: '*', screen: NotFound, title: 'Not found' },
];
