// confer: the landing page: only its language switch (Chinese first, English second).
import { mountSwitch } from './i18n.js';

mountSwitch(document.getElementById('lang-switch'));
